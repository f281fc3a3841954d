"""End to end on one machine: DAG files compiled by the real compiler, a real scheduler, the
AgentService on a loopback gRPC port, and every task a real agent process in a real per-DAG
virtualenv (built once per session with uv or pip, leoflow-sdk installed from this checkout),
against a real PostgreSQL.

The control plane (scheduler, agent service, executors) runs in the test's event loop; agents
and the user code they start are separate processes, exactly as in ``leoflow lite``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.execution import register
from leoflow.compiler.project import compile_project
from leoflow.config import Settings, load_settings
from leoflow.execution import ExecutionPlane
from leoflow.executors.fork_server import ForkServer, ForkServerError
from leoflow.executors.subprocess import SubprocessExecutor
from leoflow.lite.venvs import VenvManager, sdk_source
from leoflow.logs import TryLogRef
from leoflow.scheduler.service import Scheduler
from leoflow.secrets import SecretCipher
from leoflow.secrets.connections import PASSWORD, seal
from leoflow.states import RunState, TaskState
from leoflow.store import connections as connection_store
from leoflow.store.dag_runs import DagRun, RunType, create_dag_run, get_dag_run
from leoflow.store.pool import Pool
from leoflow.store.task_instances import TaskInstance, list_task_instances
from leoflow.store.tenants import get_default_tenant_id
from leoflow.store.variables import create_variable
from leoflow.telemetry.metrics import AGENT_LOST
from leoflow.xcom import RunScope, XComAddress

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
]

SECRET = "e2e-signing-secret-0123456789abcdef"
LOGICAL = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> VenvManager:
    """One venv builder for the session: every DAG here has the same inputs, so one build."""
    return VenvManager(tmp_path_factory.mktemp("venvs"), sdk=sdk_source())


@dataclass
class Plane:
    pool: Pool
    settings: Settings
    plane: ExecutionPlane
    scheduler: Scheduler
    projects: Path

    async def deploy(self, dag_id: str, source: str, leoflow_yaml: str | None = None) -> uuid.UUID:
        """Compile a one-file project with the real compiler and register it (unpaused)."""
        folder = self.projects / dag_id
        folder.mkdir(parents=True)
        (folder / "dag.py").write_text(textwrap.dedent(source), encoding="utf-8")
        if leoflow_yaml is not None:
            (folder / "leoflow.yaml").write_text(textwrap.dedent(leoflow_yaml), encoding="utf-8")
        spec = (await asyncio.to_thread(compile_project, folder)).spec
        dag_uuid, _ = await register(self.pool, spec.model_dump(mode="json", exclude_none=True))
        return dag_uuid

    async def trigger(
        self, dag_id: str, source: str, *, conf: dict[str, Any] | None = None, **kw: Any
    ) -> DagRun:
        dag_uuid = await self.deploy(dag_id, source, **kw)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT latest_version_id FROM dags WHERE id = %s", (dag_uuid,)
            )
            row = await cur.fetchone()
        assert row is not None
        run, _ = await create_dag_run(
            self.pool,
            dag_uuid=dag_uuid,
            run_id="manual__2025-01-01T00:00:00+00:00",
            dag_version_id=row[0],
            run_type=RunType.MANUAL,
            logical_date=LOGICAL,
            conf=conf,
        )
        _DAG_IDS[run.id] = dag_id
        self.scheduler.wake_all()
        return run

    async def finish(self, run: DagRun, timeout: float = 120.0) -> DagRun:
        deadline = time.monotonic() + timeout
        while True:
            current = await get_dag_run(self.pool, run.id)
            assert current is not None
            if current.state in (RunState.SUCCESS, RunState.FAILED):
                return current
            if time.monotonic() > deadline:
                states = {ti.task_id: ti.state.value for ti in await self.tis(run)}
                raise AssertionError(f"run still {current.state} after {timeout} s: {states}")
            await asyncio.sleep(0.1)

    async def describe(self, run: DagRun) -> str:
        """States of the run's tasks and the logs of those that did not succeed."""
        lines = []
        for ti in await self.tis(run):
            lines.append(f"{ti.task_id}: {ti.state.value} (try {ti.try_number})")
            if ti.state is not TaskState.SUCCESS:
                for number in range(1, ti.try_number + 1):
                    ref = TryLogRef(
                        "default", run_dag_id(self, run), run.run_id, ti.task_id, number
                    )
                    lines.append(await self.plane.logs.read_text(ref))
        return "\n".join(lines)

    async def tis(self, run: DagRun) -> list[TaskInstance]:
        return await list_task_instances(self.pool, run.id)

    async def ti(self, run: DagRun, task_id: str) -> TaskInstance:
        found = await self.maybe_ti(run, task_id)
        assert found is not None, f"{task_id} has no task instance yet"
        return found

    async def maybe_ti(self, run: DagRun, task_id: str) -> TaskInstance | None:
        return next((ti for ti in await self.tis(run) if ti.task_id == task_id), None)

    async def xcom(self, run: DagRun, dag_id: str, task_id: str, key: str = "return_value") -> Any:
        stored = await self.plane.xcom.pull(
            XComAddress(RunScope("default", dag_id, run.id), task_id, key)
        )
        return None if stored is None else json.loads(stored.value)

    async def log(self, run: DagRun, dag_id: str, task_id: str, try_number: int = 1) -> str:
        ref = TryLogRef("default", dag_id, run.run_id, task_id, try_number)
        return await self.plane.logs.read_text(ref)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.1)


CIPHER = SecretCipher(bytes(range(32)))
_DAG_IDS: dict[uuid.UUID, str] = {}


def run_dag_id(plane: Plane, run: DagRun) -> str:
    return _DAG_IDS[run.id]


@pytest.fixture
async def lite(
    db_pool: Pool, database_url: str, tmp_path: Path, venvs: VenvManager
) -> AsyncIterator[Plane]:
    settings = load_settings(
        database_url=database_url,
        home=tmp_path / "home",
        grpc_host="127.0.0.1",
        grpc_port=0,
        jwt_secret=SECRET,
        agent_allow_insecure_secrets=True,
        agent_heartbeat_interval_seconds=0.5,
        subprocess_kill_grace_seconds=2.0,
        heartbeat_timeout_seconds=4.0,
        scheduler_tick_seconds=0.2,
        scheduler_follower_retry_seconds=0.2,
        leader_watchdog_interval_seconds=0.2,
        reaper_grace_seconds=0.0,
        dispatch_workers=8,
    )
    plane = ExecutionPlane(db_pool, settings, cipher=CIPHER, venvs=venvs)
    scheduler = Scheduler(db_pool, database_url, plane.executor_factory, settings)
    await plane.start()
    loop = asyncio.create_task(scheduler.run())
    try:
        yield Plane(db_pool, settings, plane, scheduler, tmp_path / "projects")
    finally:
        await scheduler.stop()
        await asyncio.wait_for(loop, 30)
        await plane.stop()


ETL = """
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def etl():
        @task
        def extract() -> dict:
            return {"a": 1, "b": 2}

        @task
        def transform(rows: dict, factor: int) -> dict:
            return {k: v * factor for k, v in rows.items()}

        @task
        def load(rows: dict, table: str = "facts") -> str:
            assert rows == {"a": 3, "b": 6}, rows
            return f"{table}:{sum(rows.values())}"

        load(transform(extract(), factor=3), table="daily")

    etl()
"""


async def test_taskflow_etl_passes_typed_xcoms(lite: Plane) -> None:
    run = await lite.trigger("etl", ETL)
    done = await lite.finish(run)
    assert done.state is RunState.SUCCESS, await lite.describe(run)
    assert await lite.xcom(run, "etl", "extract") == {"a": 1, "b": 2}
    assert await lite.xcom(run, "etl", "transform") == {"a": 3, "b": 6}
    assert await lite.xcom(run, "etl", "load") == "daily:9"
    assert "returned dict" in await lite.log(run, "etl", "extract")


FAN_IN = """
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def fan_in():
        @task
        def branch(i: int) -> int:
            import time
            time.sleep((4 - i) * 0.2)  # finish in reverse order
            return i * 10

        @task
        def reducer(parts: list) -> list:
            return parts

        reducer([branch(i) for i in range(5)])

    fan_in()
"""


async def test_fan_in_reducer_gets_its_list_in_declaration_order(lite: Plane) -> None:
    run = await lite.trigger("fan_in", FAN_IN)
    assert (await lite.finish(run)).state is RunState.SUCCESS
    assert await lite.xcom(run, "fan_in", "reducer") == [0, 10, 20, 30, 40]


RETRY = """
    import os
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def flaky():
        @task(retries=2, retry_delay=0)
        def sometimes() -> int:
            attempt = int(os.environ["LEOFLOW_TRY_NUMBER"])
            if attempt == 1:
                raise RuntimeError("first try fails on purpose")
            return attempt

        sometimes()

    flaky()
"""


async def test_a_failing_task_retries_and_then_succeeds(lite: Plane) -> None:
    run = await lite.trigger("flaky", RETRY)
    assert (await lite.finish(run)).state is RunState.SUCCESS
    ti = await lite.ti(run, "sometimes")
    assert (ti.state, ti.try_number) == (TaskState.SUCCESS, 2)
    assert await lite.xcom(run, "flaky", "sometimes") == 2
    first = await lite.log(run, "flaky", "sometimes", 1)
    assert "first try fails on purpose" in first and "up for retry" in first


TOO_LARGE = """
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def big():
        @task
        def huge() -> str:
            return "x" * (300 * 1024)

        huge()

    big()
"""


async def test_an_oversized_xcom_fails_its_task_with_too_large(lite: Plane) -> None:
    run = await lite.trigger("big", TOO_LARGE)
    assert (await lite.finish(run)).state is RunState.FAILED
    assert (await lite.ti(run, "huge")).state is TaskState.FAILED
    assert "too_large" in await lite.log(run, "big", "huge")
    assert await lite.xcom(run, "big", "huge") is None


BIG_FAN_IN = """
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def big_fan_in():
        @task
        def part(i: int) -> str:
            return str(i) * (100 * 1024)

        @task
        def join(parts: list) -> int:
            return len(parts)

        join([part(i) for i in range(3)])

    big_fan_in()
"""


async def test_an_oversized_fan_in_fails_the_reducer_with_too_large(lite: Plane) -> None:
    run = await lite.trigger("big_fan_in", BIG_FAN_IN)
    assert (await lite.finish(run)).state is RunState.FAILED
    states = {ti.task_id: ti.state for ti in await lite.tis(run)}
    assert states.pop("join") is TaskState.FAILED
    assert set(states.values()) == {TaskState.SUCCESS}
    assert "too_large" in await lite.log(run, "big_fan_in", "join")


TIMEOUT = """
    import time
    from datetime import datetime, timedelta
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def slow():
        @task(execution_timeout=timedelta(seconds=2))
        def sleeper() -> None:
            print("going to sleep", flush=True)
            time.sleep(60)

        sleeper()

    slow()
"""


async def test_a_task_over_its_timeout_is_killed_and_reported(lite: Plane) -> None:
    started = time.monotonic()
    run = await lite.trigger("slow", TIMEOUT)
    assert (await lite.finish(run, timeout=60)).state is RunState.FAILED
    assert time.monotonic() - started < 40
    log = await lite.log(run, "slow", "sleeper")
    assert "going to sleep" in log and "timed out" in log.lower()


BASH = """
    from datetime import datetime
    from airflow import DAG
    from airflow.operators.bash import BashOperator

    with DAG("templated", schedule=None, start_date=datetime(2024, 1, 1), params={"x": 7}):
        BashOperator(task_id="echo", bash_command="echo {{ ds }} {{ params.x }}")
"""


async def test_bash_templates_render_ds_and_params(lite: Plane) -> None:
    run = await lite.trigger("templated", BASH)
    assert (await lite.finish(run)).state is RunState.SUCCESS
    assert await lite.xcom(run, "templated", "echo") == "2025-01-01 7"


SECRETS = """
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def secrets():
        @task
        def read() -> dict:
            from airflow.hooks.base import BaseHook
            from airflow.models import Variable

            conn = BaseHook.get_connection("warehouse")
            return {
                "region": Variable.get("region"),
                "host": conn.host,
                "login": conn.login,
                "password_length": len(conn.password),
                "port": conn.port,
            }

        read()

    secrets()
"""


async def test_variables_and_connections_reach_the_task(lite: Plane) -> None:
    tenant = await get_default_tenant_id(lite.pool)
    await create_variable(lite.pool, tenant, "region", "eu-west-1")
    row_id = uuid.uuid4()
    await connection_store.insert_connection(
        lite.pool,
        connection_store.NewConnection(
            id=row_id,
            tenant_id=tenant,
            conn_id="warehouse",
            conn_type="postgres",
            host="db.internal",
            login="etl",
            port=5432,
            password_encrypted=seal(CIPHER, tenant, row_id, PASSWORD, "pw-SECRET-42"),
        ),
    )
    run = await lite.trigger("secrets", SECRETS)
    assert (await lite.finish(run)).state is RunState.SUCCESS
    assert await lite.xcom(run, "secrets", "read") == {
        "region": "eu-west-1",
        "host": "db.internal",
        "login": "etl",
        "password_length": len("pw-SECRET-42"),
        "port": 5432,
    }
    assert "pw-SECRET-42" not in await lite.log(run, "secrets", "read")


HANG = """
    import os
    import time
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def hang():
        @task(retries=1, retry_delay=0)
        def work() -> int:
            attempt = int(os.environ["LEOFLOW_TRY_NUMBER"])
            if attempt == 1:
                print("first try hangs", flush=True)
                time.sleep(120)
            return attempt

        work()

    hang()
"""


async def _agent_pid(lite: Plane, run: DagRun, task_id: str, try_number: int = 1) -> int:
    async def running() -> int | None:
        ti = await lite.maybe_ti(run, task_id)
        if (
            ti is not None
            and ti.state is TaskState.RUNNING
            and ti.try_number == try_number
            and ti.pid
        ):
            return ti.pid
        return None

    pid: int = await lite.wait_for(running)
    return pid


async def test_a_hung_agent_is_reaped_by_the_heartbeat_reaper(lite: Plane) -> None:
    run = await lite.trigger("hang", HANG)
    pid = await _agent_pid(lite, run, "work")
    reaped_before = AGENT_LOST._value.get()
    os.kill(pid, signal.SIGSTOP)  # alive but silent: no heartbeat, no report
    try:
        done = await lite.finish(run, timeout=90)
        assert done.state is RunState.SUCCESS
        ti = await lite.ti(run, "work")
        assert (ti.state, ti.try_number) == (TaskState.SUCCESS, 2)
        assert AGENT_LOST._value.get() == reaped_before + 1  # the heartbeat reaper failed try 1
        # the stopped agent of try 1 is terminated by the executor once its try is over
        await lite.wait_for(lambda: not _alive(pid), timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    assert "stopping the agent of try 1" in await lite.log(run, "hang", "work", 1)


async def test_a_killed_agent_fails_its_try_at_once(lite: Plane) -> None:
    run = await lite.trigger("hang", HANG)
    pid = await _agent_pid(lite, run, "work")
    os.kill(pid, signal.SIGKILL)
    done = await lite.finish(run, timeout=60)
    assert done.state is RunState.SUCCESS
    first = await lite.log(run, "hang", "work", 1)
    assert "killed by signal 9" in first


LIVE_LOGS = """
    import time
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def chatty():
        @task
        def produce() -> str:
            return "sk-live-PRODUCED-0123456789"

        @task
        def consume(token: str) -> str:
            for i in range(30):
                print(f"working {i}", flush=True)
                time.sleep(0.2)
            return token + "-CONSUMED"

        consume(produce())

    chatty()
"""


async def test_logs_are_readable_while_running_and_never_hold_values(lite: Plane) -> None:
    run = await lite.trigger("chatty", LIVE_LOGS)

    async def partial() -> bool:
        ti = await lite.maybe_ti(run, "consume")
        text = await lite.log(run, "chatty", "consume")
        return ti is not None and ti.state is TaskState.RUNNING and "working 2" in text

    await lite.wait_for(partial, timeout=60)
    assert (await lite.ti(run, "consume")).state is TaskState.RUNNING
    assert (await lite.finish(run)).state is RunState.SUCCESS
    for task_id in ("produce", "consume"):
        text = await lite.log(run, "chatty", task_id)
        assert "sk-live-PRODUCED" not in text, task_id
        assert "CONSUMED" not in text, task_id
    assert "working 29" in await lite.log(run, "chatty", "consume")
    assert await lite.xcom(run, "chatty", "consume") == "sk-live-PRODUCED-0123456789-CONSUMED"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return False


LINEAGE = """
    import os
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def lineage():
        @task
        def whoami() -> list:
            agent = os.getppid()
            with open(f"/proc/{agent}/stat", encoding="ascii") as handle:
                starter = int(handle.read().rpartition(")")[2].split()[1])
            return [os.getpid(), agent, starter]

        whoami()

    lineage()
"""


async def _run_again(lite: Plane, first: DagRun, day: int) -> DagRun:
    """Another manual run of the DAG of ``first`` (same version)."""
    run, _ = await create_dag_run(
        lite.pool,
        dag_uuid=first.dag_uuid,
        run_id=f"manual__2025-01-{day:02d}T00:00:00+00:00",
        dag_version_id=first.dag_version_id,
        run_type=RunType.MANUAL,
        logical_date=LOGICAL.replace(day=day),
    )
    _DAG_IDS[run.id] = _DAG_IDS[first.id]
    lite.scheduler.wake_all()
    return run


def _subprocess_executor(lite: Plane) -> SubprocessExecutor:
    assert lite.plane.executor is not None
    executor = lite.plane.executor.default
    assert isinstance(executor, SubprocessExecutor)
    return executor


@pytest.mark.skipif(sys.platform != "linux", reason="fork servers are Linux-only")
async def test_agents_are_forked_from_a_warm_server_of_their_venv(lite: Plane) -> None:
    first = await lite.trigger("lineage", LINEAGE)
    assert (await lite.finish(first)).state is RunState.SUCCESS
    executor = _subprocess_executor(lite)
    servers = await lite.wait_for(
        lambda: [s for s in executor._fork_servers.values() if s.ready], timeout=60
    )
    # The first try of a venv is spawned (its server starts meanwhile); later ones are forked.
    assert (await lite.xcom(first, "lineage", "whoami"))[2] == os.getpid()
    later = [await _run_again(lite, first, day) for day in (2, 3)]
    tries = []
    for run in later:
        assert (await lite.finish(run)).state is RunState.SUCCESS, await lite.describe(run)
        tries.append(await lite.xcom(run, "lineage", "whoami"))
    assert [starter for _, _, starter in tries] == [servers[0].pid] * 2
    assert len({pid for task, agent, _ in tries for pid in (task, agent)}) == 4


async def test_agents_are_spawned_when_the_fork_server_fails(
    lite: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise ForkServerError("broken on purpose")

    monkeypatch.setattr(ForkServer, "spawn", broken)
    first = await lite.trigger("lineage", LINEAGE)
    assert (await lite.finish(first)).state is RunState.SUCCESS
    executor = _subprocess_executor(lite)
    await lite.wait_for(lambda: any(s.ready for s in executor._fork_servers.values()), 60)
    second = await _run_again(lite, first, 2)
    assert (await lite.finish(second)).state is RunState.SUCCESS, await lite.describe(second)
    for run in (first, second):
        assert (await lite.xcom(run, "lineage", "whoami"))[2] == os.getpid()


TEMPLATED = """
    import os
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def templated():
        @task
        def whoami() -> list:
            return [os.getpid(), os.getppid()]

        for index in range(3):
            whoami.override(task_id=f"whoami_{index}")()

    templated()
"""


@pytest.mark.skipif(sys.platform != "linux", reason="runtime templates are Linux-only")
async def test_runtimes_of_a_large_dag_are_forked_from_its_template(lite: Plane) -> None:
    executor = _subprocess_executor(lite)
    executor._templates.min_tasks = 3  # this DAG counts as large
    executor._dag_dir_for = lambda dag_id: lite.projects / dag_id  # as Lite's workspace does
    first = await lite.trigger("templated", TEMPLATED)
    assert (await lite.finish(first)).state is RunState.SUCCESS, await lite.describe(first)
    await lite.wait_for(lambda: any(s.ready for s in executor._fork_servers.values()), 60)

    def ready() -> list[Any]:
        return [t for t in executor._templates._templates.values() if t.ready]

    day = 2
    deadline = time.monotonic() + 120  # a template imports the DAG once: slow on a busy host
    while not ready():  # the first try after the fork server is up starts the template
        refused = executor._templates._refused
        assert time.monotonic() < deadline and not refused, f"no runtime template: {refused}"
        if not executor._templates._templates:  # none starting: a try will start one
            run = await _run_again(lite, first, day)
            assert (await lite.finish(run)).state is RunState.SUCCESS, await lite.describe(run)
            day += 1
        else:
            await asyncio.sleep(0.1)
    template = ready()[0]
    run = await _run_again(lite, first, day)
    assert (await lite.finish(run)).state is RunState.SUCCESS, await lite.describe(run)
    tries = [await lite.xcom(run, "templated", f"whoami_{index}") for index in range(3)]
    assert [parent for _, parent in tries] == [template.pid] * 3  # forked by the template
    assert len({task for task, _ in tries}) == 3  # each in its own process
