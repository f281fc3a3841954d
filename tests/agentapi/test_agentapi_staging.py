"""``LEOFLOW_STAGING_DIR`` as the AgentService hands it out (``TaskSpec.staging_dir``), over a
real gRPC channel against a real PostgreSQL.

The launching executor decides where a try sees its run's staging space and says so in the
try's token: a pod (the kubernetes executor's ``executor`` claim) mounts the run's claim at
``/staging``; a process on this machine (no claim) gets the run's folder below
``<home>/staging``, which the subprocess executor made before launching it. The service needs
no memory of who launched what, so any replica answers the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.execution import (
    RUN_ID,
    SECRET,
    AgentHarness,
    agent_harness,
    dag_json,
    execution_settings,
    running_run,
    task,
)
from leoflow.auth.tokens import mint_agent_token
from leoflow.staging import POD_STAGING_DIR, staging_directory
from leoflow.store.pool import Pool
from leoflow_sdk.protocol import agent_pb2, bearer_metadata

pytestmark = pytest.mark.timeout(60)

STAGED = dag_json("staged", [task("write"), task("read", "write")], staging={"enabled": True})
PLAIN = dag_json("plain", [task("only")])


@pytest.fixture
async def agents(db_pool: Pool, database_url: str, tmp_path: Path) -> AsyncIterator[AgentHarness]:
    settings = execution_settings(database_url, tmp_path)
    async with agent_harness(db_pool, settings, staging_root=tmp_path / "staging") as harness:
        yield harness


async def _staging_dir(
    agents: AgentHarness, dag_id: str, task_id: str, *, executor: str | None, try_number: int = 1
) -> str:
    token = mint_agent_token(
        SECRET,
        tenant="default",
        dag_id=dag_id,
        run_id=RUN_ID,
        task_id=task_id,
        try_number=try_number,
        executor=executor,
    )
    answer = await agents.stub.GetTaskSpec(
        agent_pb2.GetTaskSpecRequest(
            task_instance=agents.key(dag_id, task_id, try_number=try_number)
        ),
        metadata=bearer_metadata(token),
    )
    return answer.spec.staging_dir


async def test_a_try_in_a_pod_is_told_the_mount_of_the_runs_claim(
    agents: AgentHarness, tmp_path: Path
) -> None:
    await running_run(agents.pool, STAGED)
    for task_id in ("write", "read"):
        assert await _staging_dir(agents, "staged", task_id, executor="kubernetes") == "/staging"
    assert POD_STAGING_DIR == "/staging"
    # The pod path is not a folder of this machine: nothing is created under the root for it.
    assert not (tmp_path / "staging").exists()


async def test_a_process_try_is_told_its_runs_folder_and_every_task_the_same(
    agents: AgentHarness, tmp_path: Path
) -> None:
    await running_run(agents.pool, STAGED)
    folder = staging_directory(tmp_path / "staging", "default", "staged", RUN_ID)
    assert await _staging_dir(agents, "staged", "write", executor=None) == str(folder)
    assert await _staging_dir(agents, "staged", "read", executor=None) == str(folder)
    # A later try of the same task (a retry or a clear) gets the same folder.
    token_try_2 = await _staging_dir(agents, "staged", "write", executor=None, try_number=2)
    assert token_try_2 == str(folder)


async def test_a_dag_without_staging_gets_none_wherever_it_runs(agents: AgentHarness) -> None:
    await running_run(agents.pool, PLAIN)
    assert await _staging_dir(agents, "plain", "only", executor="kubernetes") == ""
    assert await _staging_dir(agents, "plain", "only", executor=None) == ""
