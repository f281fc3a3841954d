"""The official ``apache-airflow-client`` 3.3.2 against a real Leoflow server over HTTP.

The client's generated models are strict pydantic models, so every answer below that
deserializes proves the DAG, run, task-instance, log and XCom shapes. What a scheduler and an
agent would do between the calls (start the run, run the tasks, write logs and XComs) is done
here directly in the database and the log folder, as those components would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import uvicorn
from airflow_client import client as af
from pydantic import SecretStr

from harness.airflow_api import bash_spec, drive, start_run
from harness.api import TEST_PASSWORD, api_settings
from leoflow.api.app import create_app
from leoflow.states import TaskState
from leoflow.store.pool import create_pool
from leoflow.store.scheduling import record_scheduler_heartbeat

ADMIN = "resources-admin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def server_url(database_url: str, home: Path) -> Iterator[str]:
    """A uvicorn server on 127.0.0.1:<free port>, in its own thread and event loop."""
    port = _free_port()
    settings = api_settings(
        admin_username=ADMIN, admin_password=SecretStr(TEST_PASSWORD), home=home
    )
    holder: dict[str, uvicorn.Server] = {}
    failure: list[BaseException] = []

    async def serve() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=4)
        try:
            config = uvicorn.Config(
                create_app(pool, settings),
                host="127.0.0.1",
                port=port,
                log_config=None,
                access_log=False,
            )
            server = uvicorn.Server(config)
            holder["server"] = server
            await server.serve()
        finally:
            await pool.close()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the fixture below
            failure.append(exc)

    thread = threading.Thread(target=run, name="uvicorn-resources", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (holder.get("server") and holder["server"].started):
        assert not failure, failure
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        holder["server"].should_exit = True
        thread.join(timeout=30)


def _token(server_url: str) -> str:
    login = httpx.post(
        f"{server_url}/auth/token", json={"username": ADMIN, "password": TEST_PASSWORD}
    )
    assert login.status_code == 201, login.text
    token: str = login.json()["access_token"]
    return token


def _act_as_scheduler_and_agent(database_url: str, run_id: str, home: Path) -> None:
    """Start the run; extract succeeds with an XCom and a log, transform fails."""

    async def work() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=2)
        try:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = %s", (run_id,))
                row = await cur.fetchone()
                assert row is not None
                run_uuid: UUID = row[0]
            await start_run(pool, run_uuid, ("extract", "transform", "load"))
            await drive(
                pool,
                run_uuid,
                {
                    "extract": TaskState.SUCCESS,
                    "transform": TaskState.FAILED,
                    "load": TaskState.UPSTREAM_FAILED,
                },
            )
            async with pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO xcom (run_uuid, task_id, key, value) VALUES (%s, %s, %s, %s)",
                    (run_uuid, "extract", "return_value", json.dumps({"rows": 42}).encode()),
                )
            await record_scheduler_heartbeat(pool, "sched", "host", 1, is_leader=True)
        finally:
            await pool.close()

    asyncio.run(work())
    log = home / "logs" / "default" / "pipeline" / run_id / "extract" / "1.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        json.dumps(
            {
                "timestamp": "2025-01-01T00:00:00+00:00",
                "level": "info",
                "stream": "stdout",
                "event": "extracted 42 rows",
            }
        )
        + "\n",
        encoding="utf-8",
    )


def test_dags_runs_task_instances_logs_xcom_and_clear(
    server_url: str, database_url: str, home: Path
) -> None:
    token = _token(server_url)
    pushed = httpx.post(
        f"{server_url}/api/v2/dags/pipeline/versions",
        json=bash_spec("pipeline", tags=["demo"], owner="data"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert pushed.status_code == 201, pushed.text

    config = af.Configuration(host=server_url, access_token=token)
    with af.ApiClient(config) as api_client:
        dags = af.DAGApi(api_client)
        listing = dags.get_dags(tags=["demo"], order_by=["dag_id"])
        assert isinstance(listing, af.DAGCollectionResponse)
        assert [d.dag_id for d in listing.dags] == ["pipeline"]
        paused = dags.patch_dag("pipeline", af.DAGPatchBody(is_paused=True))
        assert paused.is_paused is True
        bulk = dags.patch_dags(af.DAGPatchBody(is_paused=False), dag_id_pattern="pipe")
        assert [d.is_paused for d in bulk.dags] == [False]
        details = dags.get_dag_details("pipeline")
        assert isinstance(details, af.DAGDetailsResponse) and details.owners == ["data"]

        tasks = af.TaskApi(api_client).get_tasks("pipeline")
        assert [t.task_id for t in tasks.tasks] == ["extract", "load", "transform"]
        versions = af.DagVersionApi(api_client).get_dag_versions("pipeline")
        assert versions.dag_versions[0].version_number == 1
        source = af.DagSourceApi(api_client).get_dag_source("pipeline")
        assert source.content == "# the DAG file of pipeline\n"

        runs = af.DagRunApi(api_client)
        run = runs.trigger_dag_run(
            "pipeline",
            af.TriggerDAGRunPostBody(
                logical_date=None, conf={"day": "2025-01-01"}, dag_run_id="r1"
            ),
        )
        assert isinstance(run, af.DAGRunResponse)
        assert run.conf == {"day": "2025-01-01"} and run.state == af.DagRunState.QUEUED
        across = runs.get_dag_runs("~", order_by=["-run_after"])
        assert [r.dag_run_id for r in across.dag_runs] == ["r1"]

        _act_as_scheduler_and_agent(database_url, "r1", home)

        tis = af.TaskInstanceApi(api_client)
        listed = tis.get_task_instances("pipeline", "r1", order_by=["task_id"])
        assert isinstance(listed, af.TaskInstanceCollectionResponse)
        assert [(t.task_id, t.state) for t in listed.task_instances] == [
            ("extract", af.TaskInstanceState.SUCCESS),
            ("load", af.TaskInstanceState.UPSTREAM_FAILED),
            ("transform", af.TaskInstanceState.FAILED),
        ]
        one = tis.get_mapped_task_instance("pipeline", "r1", "extract", -1)
        assert one.try_number == 1

        log = tis.get_log("pipeline", "r1", "extract", 1, full_content=True)
        assert isinstance(log, af.TaskInstancesLogResponse)
        events = [m.event for m in log.content.actual_instance]
        assert events == ["extracted 42 rows"]

        xcoms = af.XComApi(api_client)
        entries = xcoms.get_xcom_entries("pipeline", "r1", "extract")
        assert [e.key for e in entries.xcom_entries] == ["return_value"]
        entry = xcoms.get_xcom_entry("pipeline", "extract", "r1", "return_value")
        assert entry.actual_instance.value == {"rows": 42}

        preview = tis.post_clear_task_instances(
            "pipeline",
            af.ClearTaskInstancesBody(
                dag_run_id="r1", task_ids=[af.ClearTaskInstancesBodyTaskIdsInner("transform")]
            ),
        )
        assert [t.task_id for t in preview.task_instances] == ["transform"]
        cleared = tis.post_clear_task_instances(
            "pipeline",
            af.ClearTaskInstancesBody(
                dag_run_id="r1",
                task_ids=[af.ClearTaskInstancesBodyTaskIdsInner("transform")],
                include_downstream=True,
                dry_run=False,
            ),
        )
        assert sorted(t.task_id for t in cleared.task_instances) == ["load", "transform"]
        assert all(t.state is None and t.try_number == 2 for t in cleared.task_instances)
        tries = tis.get_task_instance_tries("pipeline", "r1", "transform")
        assert [t.try_number for t in tries.task_instances] == [1, 2]
        assert runs.get_dag_run("pipeline", "r1").state == af.DagRunState.QUEUED

        marked = tis.patch_task_instance(
            "pipeline", "r1", "extract", af.PatchTaskInstanceBody(note="verified")
        )
        assert marked.task_instances[0].note == "verified"

        health = af.MonitorApi(api_client).get_health()
        assert health.metadatabase.status == "healthy"
        assert health.scheduler.status == "healthy"
        assert af.VersionApi(api_client).get_version().version
        stats = af.DagStatsApi(api_client).get_dag_stats(dag_ids=["pipeline"])
        assert stats.dags[0].dag_id == "pipeline"
        assert af.DagWarningApi(api_client).list_dag_warnings().total_entries == 0
        assert af.ImportErrorApi(api_client).get_import_errors().total_entries == 0
        assert af.PluginApi(api_client).get_plugins().total_entries == 0
        assert af.PoolApi(api_client).get_pools().total_entries == 0
        assert af.ProviderApi(api_client).get_providers().total_entries == 0
        assert af.DAGApi(api_client).get_dag_tags().tags == ["demo"]

        runs.delete_dag_run("pipeline", "r1")
        dags.delete_dag("pipeline")
        assert dags.get_dag("pipeline").dag_id == "pipeline"
