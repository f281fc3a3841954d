"""Per-run staging folders through the real subprocess executor (Lite's execution path).

A real scheduler, the AgentService on a loopback port, every task a real agent process in a real
DAG virtualenv, against a real PostgreSQL. The DAG of ``examples/scheduled_report`` writes a
CSV in ``LEOFLOW_STAGING_DIR`` and the next task reads it: the run's folder is made by the
executor before the first task (the agent service only names it), recorded in
``staging_volumes``, kept across a retry and a clear, and deleted by the sweep once the run
succeeded.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from harness.execution import register
from leoflow.compiler.project import compile_project
from leoflow.config import Settings, load_settings
from leoflow.execution import ExecutionPlane
from leoflow.lite.venvs import VenvManager, sdk_source
from leoflow.logs import TryLogRef
from leoflow.scheduler.operations import ClearRequest, clear_task_instances
from leoflow.scheduler.service import Scheduler
from leoflow.staging import staging_directory
from leoflow.states import RunState, TaskState
from leoflow.store.dag_runs import DagRun, RunType, create_dag_run, get_dag_run
from leoflow.store.pool import Pool
from leoflow.store.staging_volumes import get_volume, list_volumes
from leoflow.store.task_instances import list_task_instances
from leoflow.xcom import RunScope, XComAddress

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scheduled_report"
SECRET = "staging-e2e-signing-secret-0123456789abcdef"
LOGICAL = datetime(2025, 3, 3, 6, tzinfo=UTC)

RETRY_DAG = """
    import os
    from datetime import datetime
    from pathlib import Path

    from airflow.sdk import dag, task


    def here() -> Path:
        return Path(os.environ["LEOFLOW_STAGING_DIR"])


    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def staged_retry():
        @task
        def produce() -> str:
            with (here() / "tries.txt").open("a") as marks:
                marks.write(os.environ["LEOFLOW_TRY_NUMBER"] + "\\n")
            if os.environ["LEOFLOW_TRY_NUMBER"] == "1":
                raise RuntimeError("the first try fails on purpose")
            return str(here())

        @task
        def consume(where: str) -> list:
            assert str(here()) == where, (here(), where)
            with (here() / "consumed.txt").open("a") as marks:
                marks.write("consumed\\n")
            return (here() / "tries.txt").read_text().split()

        consume(produce())


    staged_retry()
"""
RETRY_YAML = """
    dag_id: staged_retry
    staging:
      enabled: true
    defaults:
      retries: 1
      retry_delay_seconds: 0
"""


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> VenvManager:
    return VenvManager(tmp_path_factory.mktemp("venvs"), sdk=sdk_source())


@dataclass
class Lite:
    pool: Pool
    settings: Settings
    plane: ExecutionPlane
    scheduler: Scheduler
    home: Path
    projects: Path

    @property
    def staging_root(self) -> Path:
        return self.home / "staging"

    async def trigger(self, project: Path) -> tuple[str, DagRun]:
        spec = (await asyncio.to_thread(compile_project, project)).spec
        dag_uuid, version_id = await register(
            self.pool, spec.model_dump(mode="json", exclude_none=True)
        )
        run, _ = await create_dag_run(
            self.pool,
            dag_uuid=dag_uuid,
            run_id="manual__2025-03-03T06:00:00+00:00",
            dag_version_id=version_id,
            run_type=RunType.MANUAL,
            logical_date=LOGICAL,
        )
        self.scheduler.wake_all()
        return spec.dag_id, run

    async def finish(self, run_uuid: UUID, timeout: float = 180.0) -> DagRun:
        deadline = time.monotonic() + timeout
        while True:
            current = await get_dag_run(self.pool, run_uuid)
            assert current is not None
            if current.state in (RunState.SUCCESS, RunState.FAILED):
                return current
            assert time.monotonic() < deadline, f"run still {current.state}"
            await asyncio.sleep(0.1)

    async def log(self, dag_id: str, run: DagRun, task_id: str, try_number: int = 1) -> str:
        ref = TryLogRef("default", dag_id, run.run_id, task_id, try_number)
        return await self.plane.logs.read_text(ref)

    async def xcom(self, dag_id: str, run: DagRun, task_id: str) -> Any:
        stored = await self.plane.xcom.pull(
            XComAddress(RunScope("default", dag_id, run.id), task_id, "return_value")
        )
        return None if stored is None else json.loads(stored.value)


@pytest.fixture
async def lite(
    db_pool: Pool, database_url: str, tmp_path: Path, venvs: VenvManager
) -> AsyncIterator[Lite]:
    home = tmp_path / "home"
    settings = load_settings(
        database_url=database_url,
        home=home,
        grpc_host="127.0.0.1",
        grpc_port=0,
        jwt_secret=SECRET,
        agent_heartbeat_interval_seconds=0.5,
        subprocess_kill_grace_seconds=2.0,
        scheduler_tick_seconds=0.2,
        scheduler_follower_retry_seconds=0.2,
        leader_watchdog_interval_seconds=0.2,
        reaper_grace_seconds=0.0,
        # The test sweeps by itself, at the moments it checks.
        staging_sweep_interval_seconds=3600,
    )
    plane = ExecutionPlane(db_pool, settings, venvs=venvs)
    scheduler = Scheduler(db_pool, database_url, plane.executor_factory, settings)
    await plane.start()
    loop = asyncio.create_task(scheduler.run())
    try:
        yield Lite(db_pool, settings, plane, scheduler, home, tmp_path / "projects")
    finally:
        await scheduler.stop()
        await asyncio.wait_for(loop, 30)
        await plane.stop()


async def _describe(lite: Lite, dag_id: str, run: DagRun) -> str:
    lines = []
    for ti in await list_task_instances(lite.pool, run.id):
        lines.append(f"{ti.task_id}: {ti.state.value} (try {ti.try_number})")
        for number in range(1, ti.try_number + 1):
            lines.append(await lite.log(dag_id, run, ti.task_id, number))
    return "\n".join(lines)


async def test_the_scheduled_report_example_shares_a_real_per_run_folder(lite: Lite) -> None:
    project = lite.projects / "scheduled_report"
    shutil.copytree(EXAMPLE, project)
    dag_id, run = await lite.trigger(project)
    done = await lite.finish(run.id)
    assert done.state is RunState.SUCCESS, await _describe(lite, dag_id, run)

    folder = staging_directory(lite.staging_root, "default", dag_id, run.run_id)
    metrics = (folder / "metrics.csv").read_text(encoding="utf-8").splitlines()
    assert metrics == [
        "day,metric,value",
        "2025-03-03,signups,42",
        "2025-03-03,orders,17",
        "2025-03-03,refunds,1",
    ]
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Daily report\n") and "- orders: 17" in report
    assert "wrote 3 rows to metrics.csv" in await lite.log(dag_id, run, "collect_metrics")
    assert await lite.xcom(dag_id, run, "render_report") == "report.md"

    name = folder.relative_to(lite.staging_root).as_posix()
    [volume] = await list_volumes(lite.pool, run.id)
    assert (volume.pvc_name, volume.kind, volume.state) == (name, "directory", "active")

    # The example is scheduled, so the scheduler may have started a run of its own: each run
    # has its own folder, and the sweep takes each once its run succeeded.
    swept_now = await lite.plane.staging.sweep()
    assert (name, "run succeeded") in swept_now
    assert all(
        other.startswith(f"default/{dag_id}/scheduled__") for other, _ in swept_now if other != name
    )
    assert not folder.exists()
    swept = await get_volume(lite.pool, name)
    assert swept is not None and swept.state == "deleted"
    assert swept.deleted_reason == "run succeeded"


async def test_the_folder_survives_a_retry_and_a_clear(lite: Lite) -> None:
    project = lite.projects / "staged_retry"
    project.mkdir(parents=True)
    (project / "dag.py").write_text(textwrap.dedent(RETRY_DAG), encoding="utf-8")
    (project / "leoflow.yaml").write_text(textwrap.dedent(RETRY_YAML), encoding="utf-8")
    dag_id, run = await lite.trigger(project)
    done = await lite.finish(run.id)
    assert done.state is RunState.SUCCESS, await _describe(lite, dag_id, run)

    folder = staging_directory(lite.staging_root, "default", dag_id, run.run_id)
    states = {
        ti.task_id: (ti.state, ti.try_number) for ti in await list_task_instances(lite.pool, run.id)
    }
    assert states["produce"] == (TaskState.SUCCESS, 2)
    assert "the first try fails on purpose" in await lite.log(dag_id, run, "produce", 1)
    # Both tries of produce wrote to the same folder; consume read it there.
    assert await lite.xcom(dag_id, run, "produce") == str(folder)
    assert await lite.xcom(dag_id, run, "consume") == ["1", "2"]

    # A clear before the sweep: the rerun finds the run's files where they were.
    await clear_task_instances(
        lite.pool, lite.scheduler.catalog, run.id, ClearRequest(task_ids=frozenset({"consume"}))
    )
    again = await lite.finish(run.id)
    assert again.state is RunState.SUCCESS, await _describe(lite, dag_id, run)
    consume = next(
        ti for ti in await list_task_instances(lite.pool, run.id) if ti.task_id == "consume"
    )
    assert consume.try_number == 2
    assert (folder / "consumed.txt").read_text(encoding="utf-8").split() == ["consumed"] * 2
    assert len(await list_volumes(lite.pool, run.id)) == 1  # one folder per run, still

    assert await lite.plane.staging.sweep() == [
        (folder.relative_to(lite.staging_root).as_posix(), "run succeeded")
    ]
    assert not folder.exists()
