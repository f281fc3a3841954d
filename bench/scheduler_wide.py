"""Control-plane CPU per task on wide runs: scheduler + agent service, measured in CPU time.

Run it with ``.venv/bin/python bench/scheduler_wide.py`` (``--help`` for options). It uses
``LEOFLOW_BENCH_DATABASE_URL`` (a PostgreSQL server: a scratch database is created on it and
dropped afterwards) or, when unset, an embedded PostgreSQL in a temporary directory.

What runs, in this one process, as ``leoflow lite`` runs it: the scheduler (leadership, the
event-driven loop, planning, dispatch pool) and the real ``AgentService`` with its task logs
(files in a temporary folder), XCom service and state reporter, with tracing and JSON logging
configured as Lite configures them. No task process is started: a simulated agent per launch
makes the calls a real agent makes for a no-op task (``GetTaskSpec`` and ``Register``
together, ``ReportState(running)``, one ``StreamLogs`` batch, ``ReportState(success)`` with
its phase spans), holding one of ``--parallelism`` slots (16, Lite's default) for
``--task-seconds`` on average (0.4 s: about 40 tasks/s, the Lite target), as the subprocess
executor does. By default the calls go straight to the service's handlers, so the numbers are
the scheduler's and the service's own; ``--transport grpc`` serves the service on a loopback
gRPC port and makes the calls from a separate process (its CPU is not counted), adding the
server side of gRPC. ``--executor scripted`` uses the scripted executor instead (the scheduler
and the state reporter only, every try at once).

Each measured run is one DAG run of N independent no-op tasks (``--widths``, default 100 and
1000), triggered after an untimed warm-up run of the same width. Reported per width, as the
median of ``--runs`` runs (with min and max; a narrow width runs as many times as it takes to
measure at least 1,000 tasks):

* **control-plane CPU ms/task**: ``time.process_time()`` of this process (every thread) from
  the trigger to the run's end, divided by N: CPU, not wall time, so a busy neighbour on a
  shared machine moves it far less (but still some: compare runs made back to back);
* **database CPU ms/task**: user + system time of the database's server processes serving the
  scratch database (read from ``/proc``; only when the server runs on this machine);
* **SQL statements/task** (every statement the process sends, as counted at the driver) and
  **round trips/task** (statements plus ``BEGIN``/``COMMIT``/``ROLLBACK``);
* scheduler passes per run.

The per-task cost must not grow with the width: compare the 100 and 1000 rows. ``--profile
FILE`` writes a cProfile of the measured runs of the widest width (for finding where the time
goes; it slows everything down, so its run's numbers are not comparable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from google.protobuf.timestamp_pb2 import Timestamp
from psycopg import sql

from leoflow.agentapi.server import AgentServer
from leoflow.agentapi.service import AgentService
from leoflow.agentapi.tokens import AgentTokenIssuer
from leoflow.config import Settings, load_settings
from leoflow.executors.base import TaskLaunch
from leoflow.executors.scripted import ScriptedExecutor
from leoflow.lite.embedded_db import start_embedded_postgres, stop_embedded_postgres
from leoflow.logs import FileLogStorage, MemoryLogTail, TaskLogs
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.operations import trigger_dag_run
from leoflow.scheduler.service import Scheduler
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.spec import dag_spec_from_data, spec_hash
from leoflow.states import RunState
from leoflow.store.dag_runs import get_dag_run
from leoflow.store.dag_versions import register_dag_version
from leoflow.store.dags import set_dag_paused
from leoflow.store.dsn import with_database
from leoflow.store.pool import Pool, create_pool
from leoflow.store.schema import migrate
from leoflow.store.tenants import get_default_tenant_id
from leoflow.telemetry import configure_logging, configure_tracing
from leoflow.telemetry.tracing import try_span_ids
from leoflow.xcom import PostgresXComBackend, XComPolicy, XComService
from leoflow_sdk.protocol import agent_pb2, bearer_metadata, task_state_to_proto

_THIS_FILE = Path(__file__).resolve()
SECRET = "bench-signing-secret-0123456789abcdef"

# --- counting what reaches the database ----------------------------------------------------


class _Counter:
    statements = 0
    commands = 0


def _install_statement_counter() -> None:
    """Count statements (cursor executes) and transaction commands at the driver."""
    from psycopg import AsyncCursor
    from psycopg._connection_base import BaseConnection

    execute = AsyncCursor.execute
    executemany = AsyncCursor.executemany
    exec_command = BaseConnection._exec_command

    async def counted_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        _Counter.statements += 1
        return await execute(self, *args, **kwargs)

    async def counted_executemany(self: Any, *args: Any, **kwargs: Any) -> Any:
        _Counter.statements += 1
        return await executemany(self, *args, **kwargs)

    def counted_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        _Counter.commands += 1
        return exec_command(self, *args, **kwargs)

    AsyncCursor.execute = counted_execute  # type: ignore[method-assign]
    AsyncCursor.executemany = counted_executemany  # type: ignore[method-assign]
    BaseConnection._exec_command = counted_command  # type: ignore[method-assign]


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _backend_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each server process (``/proc``; missing ones are skipped)."""
    seconds: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return seconds


def _database_backends(admin_dsn: str, database: str) -> list[int]:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchall()
    return [int(row[0]) for row in rows]


# --- a simulated agent per launch -----------------------------------------------------------


class _Aborted(Exception):
    pass


@dataclass
class _Context:
    """What a grpc.aio servicer reads from its context."""

    metadata: tuple[tuple[str, str], ...]

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def peer(self) -> str:
        return "ipv4:127.0.0.1:50000"

    async def abort(self, code: Any, message: str) -> None:
        raise _Aborted(f"{code}: {message}")


def _stamp(nanos: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(nanos)
    return stamp


@dataclass(frozen=True)
class _Try:
    """What a simulated agent knows of its try (what a real one gets in its environment)."""

    ti_id: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    token: str
    run_seconds: float


class _DirectCalls:
    """The agent service's handlers called in this process (no transport)."""

    def __init__(self, service: AgentService, token: str) -> None:
        self._service = service
        self._context = _Context(tuple(bearer_metadata(token)))

    async def call(self, method: str, request: Any) -> Any:
        return await getattr(self._service, method)(request, self._context)


class _GrpcCalls:
    """The same calls over a gRPC channel (the agent-client process of ``--transport grpc``)."""

    def __init__(self, stub: Any, token: str) -> None:
        self._stub = stub
        self._metadata = bearer_metadata(token)

    async def call(self, method: str, request: Any) -> Any:
        return await getattr(self._stub, method)(request, metadata=self._metadata)


_LOG_LINES = (
    "[leoflow] agent 0.1.0 started",
    "[leoflow] runtime ready",
    "[leoflow] returned None (no XCom)",
    "[leoflow] task succeeded in 0.01 s",
)


async def agent_calls(calls: _DirectCalls | _GrpcCalls, job: _Try) -> None:
    """What a real agent asks of the control plane for a no-op try, in its order."""
    key = agent_pb2.TaskInstanceKey(
        tenant="default",
        dag_id=job.dag_id,
        run_id=job.run_id,
        task_id=job.task_id,
        map_index=job.map_index,
        try_number=job.try_number,
    )
    register = agent_pb2.RegisterRequest(
        agent_version="0.1.0", hostname="bench", pid=os.getpid(), python_version="3.11.7"
    )
    await asyncio.gather(
        calls.call("GetTaskSpec", agent_pb2.GetTaskSpecRequest(task_instance=key)),
        calls.call("Register", register),
    )
    running = agent_pb2.ReportStateRequest(
        task_instance=key, try_number=job.try_number, state=task_state_to_proto("running")
    )
    answer = await calls.call("ReportState", running)
    if not answer.applied:
        raise RuntimeError(f"running refused: {answer.detail}")
    started = time.time_ns()
    await asyncio.sleep(job.run_seconds)
    lines = [
        agent_pb2.LogLine(
            stream=agent_pb2.LOG_STREAM_AGENT, line=text, sequence=i + 1, timestamp=_stamp(started)
        )
        for i, text in enumerate(_LOG_LINES)
    ]

    async def batches() -> AsyncIterator[agent_pb2.StreamLogsRequest]:
        yield agent_pb2.StreamLogsRequest(task_instance=key, lines=lines)

    await calls.call("StreamLogs", batches())
    trace_id, root = try_span_ids(uuid.UUID(job.ti_id), job.try_number)
    ended = time.time_ns()
    spans = [
        agent_pb2.SpanRecord(
            name=name,
            trace_id=trace_id.to_bytes(16, "big"),
            span_id=((root + i + 1) % 2**64 or 1).to_bytes(8, "big"),
            parent_span_id=root.to_bytes(8, "big"),
            start_time=_stamp(started),
            end_time=_stamp(ended),
        )
        for i, name in enumerate(("agent.start", "agent.prepare", "agent.run"))
    ]
    final = agent_pb2.ReportStateRequest(
        task_instance=key,
        try_number=job.try_number,
        state=task_state_to_proto("success"),
        spans=spans,
    )
    final.end_time.CopyFrom(_stamp(ended))
    answer = await calls.call("ReportState", final)
    if not answer.applied:
        raise RuntimeError(f"success refused: {answer.detail}")


@dataclass
class AgentCallsExecutor:
    """Runs each launch as the calls a real agent makes for a no-op task (see the module
    docstring), at most ``parallelism`` at once, as the subprocess executor does: in this
    process (``client`` unset) or by the agent-client process over gRPC."""

    service: AgentService
    tokens: AgentTokenIssuer
    parallelism: int
    task_seconds: float
    client: asyncio.subprocess.Process | None = None
    name: str = "simulated-agents"
    finished: int = 0
    failures: list[str] = field(default_factory=list)
    _slots: asyncio.Semaphore | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _random: random.Random = field(default_factory=lambda: random.Random(7))
    _reader: asyncio.Task[None] | None = None

    async def submit(self, launch: TaskLaunch) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.parallelism)
        await self._slots.acquire()
        try:
            token = await self.tokens.mint(launch)
        except BaseException:
            self._slots.release()
            raise
        # Spread, as real tries are: their reports do not all come in one burst.
        job = _Try(
            str(launch.ti_id),
            launch.dag_id,
            launch.run_id,
            launch.task_id,
            launch.map_index,
            launch.try_number,
            token,
            self.task_seconds * self._random.uniform(0.5, 1.5),
        )
        if self.client is not None:
            assert self.client.stdin is not None
            if self._reader is None:
                self._reader = asyncio.create_task(self._read_client())
            self.client.stdin.write((json.dumps(asdict(job)) + "\n").encode())
            return
        task = asyncio.create_task(self._agent(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _agent(self, job: _Try) -> None:
        try:
            await agent_calls(_DirectCalls(self.service, job.token), job)
            self._done("ok")
        except Exception as exc:  # reported at the end: the run would not finish
            self._done(f"{job.task_id}: {exc!r}")

    def _done(self, outcome: str) -> None:
        assert self._slots is not None
        if outcome == "ok":
            self.finished += 1
        else:
            self.failures.append(outcome)
        self._slots.release()

    async def _read_client(self) -> None:
        assert self.client is not None and self.client.stdout is not None
        async for line in self.client.stdout:
            self._done(line.decode().strip())

    async def cancel(self, ti_id: uuid.UUID, try_number: int) -> None:
        return None

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


async def agent_client(address: str) -> None:
    """The agent-client process: one simulated agent per line on stdin, over gRPC; one line
    on stdout per try ended (``ok`` or what went wrong)."""
    import grpc

    from leoflow_sdk.protocol import agent_pb2_grpc

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    running: set[asyncio.Task[None]] = set()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)

        async def one(job: _Try) -> None:
            try:
                await agent_calls(_GrpcCalls(stub, job.token), job)
                outcome = "ok"
            except Exception as exc:
                outcome = f"{job.task_id}: {exc!r}".replace("\n", " ")
            sys.stdout.write(outcome + "\n")
            sys.stdout.flush()

        async for line in reader:
            task = asyncio.create_task(one(_Try(**json.loads(line))))
            running.add(task)
            task.add_done_callback(running.discard)


MIN_TASKS_PER_WIDTH = 1000
"""Narrow widths run more times, so that every width measures at least this many tasks."""


def _runs_for(width: int, runs: int) -> int:
    return max(runs, -(-MIN_TASKS_PER_WIDTH // width))


def _finished(executor: Any) -> int:
    """Tries the executor has seen to their end."""
    if isinstance(executor, ScriptedExecutor):
        return sum(1 for record in executor.launches if record.finished_at is not None)
    return int(executor.finished)


# --- the measured runs ----------------------------------------------------------------------


def wide_dag(dag_id: str, width: int) -> dict[str, Any]:
    """``width`` independent no-op python tasks."""
    tasks = [
        {"task_id": f"t{i:05d}", "type": "python", "entrypoint": "dag:noop", "depends_on": []}
        for i in range(width)
    ]
    data = {
        "schema_version": "1.0",
        "dag_id": dag_id,
        "source": "def noop():\n    pass\n",
        "source_module": "dag",
        "tasks": tasks,
    }
    dag_spec_from_data(data)
    return data


async def _register(pool: Pool, data: dict[str, Any]) -> uuid.UUID:
    tenant = await get_default_tenant_id(pool)
    spec = dag_spec_from_data(data)
    version, _ = await register_dag_version(pool, tenant, spec.dag_id, data, spec_hash(spec))
    await set_dag_paused(pool, tenant, spec.dag_id, False)
    return version.dag_uuid


@dataclass
class RunSample:
    """One measured run."""

    cpu_ms_per_task: float
    db_cpu_ms_per_task: float | None
    statements_per_task: float
    round_trips_per_task: float
    passes: int
    wall_s: float


@dataclass
class WidthResult:
    """The measured runs of one width, and their medians."""

    width: int
    runs: list[RunSample]
    cpu_ms_per_task: float = 0.0
    cpu_ms_per_task_min: float = 0.0
    cpu_ms_per_task_max: float = 0.0
    db_cpu_ms_per_task: float | None = None
    statements_per_task: float = 0.0
    round_trips_per_task: float = 0.0
    passes_per_run: float = 0.0
    wall_s: float = 0.0

    def summarize(self) -> None:
        cpu = [r.cpu_ms_per_task for r in self.runs]
        self.cpu_ms_per_task = round(statistics.median(cpu), 2)
        self.cpu_ms_per_task_min = round(min(cpu), 2)
        self.cpu_ms_per_task_max = round(max(cpu), 2)
        db = [r.db_cpu_ms_per_task for r in self.runs if r.db_cpu_ms_per_task is not None]
        self.db_cpu_ms_per_task = round(statistics.median(db), 2) if db else None
        self.statements_per_task = round(
            statistics.median(r.statements_per_task for r in self.runs), 2
        )
        self.round_trips_per_task = round(
            statistics.median(r.round_trips_per_task for r in self.runs), 2
        )
        self.passes_per_run = statistics.median(r.passes for r in self.runs)
        self.wall_s = round(statistics.median(r.wall_s for r in self.runs), 2)


@dataclass
class Bench:
    """One control plane (scheduler + agent service) on the scratch database."""

    pool: Pool
    dsn: str
    admin_dsn: str
    database: str
    settings: Settings
    executor_kind: str
    transport: str
    parallelism: int
    task_seconds: float
    scheduler: Scheduler | None = None
    _loop: asyncio.Task[None] | None = None
    _server: AgentServer | None = None
    _client: asyncio.subprocess.Process | None = None

    def _executor_factory(self, reporter: TaskReporter) -> Any:
        if self.executor_kind == "scripted":
            return ScriptedExecutor(reporter, self.pool)
        logs = TaskLogs(FileLogStorage(Path(self.settings.home) / "logs"), MemoryLogTail())
        xcom = XComService(PostgresXComBackend(self.pool), XComPolicy())
        catalog = DagCatalog(self.pool, self.settings.task_defaults)
        service = AgentService(
            db=self.pool,
            settings=self.settings,
            jwt_secret=SECRET,
            xcom=xcom,
            logs=logs,
            reporter=reporter,
            catalog=catalog,
        )
        tokens = AgentTokenIssuer(SECRET, self.pool)
        return AgentCallsExecutor(service, tokens, self.parallelism, self.task_seconds)

    async def start(self) -> None:
        self.scheduler = Scheduler(self.pool, self.dsn, self._executor_factory, self.settings)
        executor = self.scheduler.executor
        if self.transport == "grpc" and isinstance(executor, AgentCallsExecutor):
            self._server = AgentServer(executor.service, self.settings)
            endpoint = await self._server.start()
            self._client = await asyncio.create_subprocess_exec(
                sys.executable,
                str(_THIS_FILE),
                "--agent-client",
                endpoint.address,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            executor.client = self._client
        self._loop = asyncio.create_task(self.scheduler.run())
        deadline = time.monotonic() + 30
        while not self.scheduler.is_leader:
            if time.monotonic() > deadline:
                raise RuntimeError("the scheduler did not become leader in 30 s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        assert self.scheduler is not None and self._loop is not None
        await self.scheduler.stop()
        await asyncio.wait_for(self._loop, 30)
        await self.scheduler.executor.close()
        if self._client is not None and self._client.stdin is not None:
            self._client.stdin.close()
            self._client.terminate()
            await self._client.wait()
        if self._server is not None:
            await self._server.stop(grace=None)

    async def one_run(self, dag_uuid: uuid.UUID, width: int, limit_seconds: float) -> RunSample:
        assert self.scheduler is not None
        backends = _database_backends(self.admin_dsn, self.database)
        db_before = _backend_cpu_seconds(backends)
        statements, commands = _Counter.statements, _Counter.commands
        passes = self.scheduler.passes
        if isinstance(self.scheduler.executor, ScriptedExecutor):
            self.scheduler.executor.launches.clear()
        finished_before = _finished(self.scheduler.executor)
        wall = time.perf_counter()
        cpu = time.process_time()
        run = await trigger_dag_run(self.pool, dag_uuid)
        deadline = time.monotonic() + limit_seconds
        executor = self.scheduler.executor
        while True:  # the database is asked only once every try has ended (no polling cost)
            await asyncio.sleep(0.01)
            failures = getattr(executor, "failures", [])
            if failures or time.monotonic() > deadline:
                raise RuntimeError(f"run of width {width} did not finish ({failures[:3]})")
            if _finished(executor) - finished_before < width:
                continue
            current = await get_dag_run(self.pool, run.id)
            assert current is not None
            if current.state in (RunState.SUCCESS, RunState.FAILED):
                break
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        statements = _Counter.statements - statements
        commands = _Counter.commands - commands
        backends = _database_backends(self.admin_dsn, self.database)
        db_after = _backend_cpu_seconds(backends)
        db_cpu: float | None = None
        if db_after:
            db_cpu = sum(v - db_before.get(pid, 0.0) for pid, v in db_after.items())
        if current.state is not RunState.SUCCESS:
            raise RuntimeError(f"the run of width {width} ended {current.state}")
        return RunSample(
            cpu_ms_per_task=round(cpu * 1000 / width, 3),
            db_cpu_ms_per_task=round(db_cpu * 1000 / width, 3) if db_cpu is not None else None,
            statements_per_task=round(statements / width, 2),
            round_trips_per_task=round((statements + commands) / width, 2),
            passes=self.scheduler.passes - passes,
            wall_s=round(wall, 3),
        )


@contextlib.contextmanager
def _profiling(path: Path | None) -> Iterator[cProfile.Profile | None]:
    if path is None:
        yield None
        return
    profile = cProfile.Profile(time.process_time)  # CPU, not wall: waits are not costs
    profile.enable()
    try:
        yield profile
    finally:
        profile.disable()
        profile.dump_stats(str(path))
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(40)
        print(text.getvalue(), file=sys.stderr)


async def measure(
    args: argparse.Namespace, dsn: str, admin_dsn: str, database: str
) -> list[WidthResult]:
    home = Path(tempfile.mkdtemp(prefix="leoflow-bench-home-"))
    settings = load_settings(
        database_url=dsn,
        home=home,
        edition="lite",
        reaper_grace_seconds=0.0,
        agent_allow_insecure_secrets=True,
    )
    pool = await create_pool(dsn, min_size=2, max_size=settings.database_pool_max_size)
    results: list[WidthResult] = []
    try:
        bench = Bench(
            pool,
            dsn,
            admin_dsn,
            database,
            settings,
            args.executor,
            args.transport,
            args.parallelism,
            args.task_seconds,
        )
        await bench.start()
        try:
            widest = max(args.widths)
            for width in args.widths:
                dag_uuid = await _register(pool, wide_dag(f"bench_wide_{width}", width))
                await bench.one_run(dag_uuid, width, args.timeout)  # warm-up, untimed
                profile = args.profile if width == widest else None
                with _profiling(profile):
                    samples = [
                        await bench.one_run(dag_uuid, width, args.timeout)
                        for _ in range(_runs_for(width, args.runs))
                    ]
                result = WidthResult(width, samples)
                result.summarize()
                results.append(result)
                print(json.dumps(asdict(result)), file=sys.stderr)
        finally:
            await bench.stop()
    finally:
        await pool.close()
        shutil.rmtree(home, ignore_errors=True)
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = os.getloadavg()
    server_dsn = args.database_url
    embedded_dir: Path | None = None
    if server_dsn is None:
        embedded_dir = Path(tempfile.mkdtemp(prefix="leoflow-bench-")) / "pgdata"
        server_dsn = start_embedded_postgres(embedded_dir)
    name = f"leoflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = with_database(server_dsn, name)
    try:
        migrate(dsn)
        results = await measure(args, dsn, server_dsn, name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if embedded_dir is not None:
            stop_embedded_postgres(embedded_dir)
    return {
        "benchmark": "scheduler_wide",
        "machine": f"{platform.machine()} {os.cpu_count() or 0} CPUs",
        "python": sys.version.split()[0],
        "database": "embedded" if embedded_dir else "external",
        "executor": args.executor,
        "transport": args.transport,
        "parallelism": args.parallelism,
        "task_seconds": args.task_seconds,
        "runs_per_width": {width: _runs_for(width, args.runs) for width in args.widths},
        "load_average_start": [round(v, 2) for v in load_at_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "results": [asdict(r) for r in results],
    }


def _table(payload: dict[str, Any]) -> str:
    lines = [
        "| width | control-plane CPU ms/task (min-max) | database CPU ms/task | statements/task "
        "| round trips/task | passes/run | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in payload["results"]:
        db = "—" if r["db_cpu_ms_per_task"] is None else f"{r['db_cpu_ms_per_task']:g}"
        lines.append(
            f"| {r['width']} | {r['cpu_ms_per_task']:g} ({r['cpu_ms_per_task_min']:g}-"
            f"{r['cpu_ms_per_task_max']:g}) | {db} | {r['statements_per_task']:g} | "
            f"{r['round_trips_per_task']:g} | {r['passes_per_run']:g} | {r['wall_s']:g} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL server (default: env or embedded)"
    )
    parser.add_argument("--widths", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="measured runs per width (more for narrow ones: at least 1,000 tasks per width)",
    )
    parser.add_argument("--executor", choices=("agents", "scripted"), default="agents")
    parser.add_argument(
        "--transport",
        choices=("direct", "grpc"),
        default="direct",
        help="agents' calls straight to the handlers, or over gRPC from another process",
    )
    parser.add_argument("--agent-client", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--parallelism", type=int, default=16, help="simulated agents at once (Lite's default)"
    )
    parser.add_argument(
        "--task-seconds",
        type=float,
        default=0.4,
        help="mean time a simulated try runs (0.4 s, 16 slots: ~40 tasks/s, the Lite target)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="per run, seconds")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile output file")
    parser.add_argument("--output", type=Path, default=None, help="write results as JSON here")
    args = parser.parse_args(argv)
    if args.agent_client:  # the agent-client process of --transport grpc
        asyncio.run(agent_client(args.agent_client))
        return 0
    if args.database_url is None:
        args.database_url = os.environ.get("LEOFLOW_BENCH_DATABASE_URL")
    configure_logging("json", "INFO", stream=open(os.devnull, "w"))  # noqa: SIM115
    configure_tracing("leoflow-bench")
    _install_statement_counter()
    payload = asyncio.run(run(args))
    print(json.dumps(payload, indent=2))
    print(_table(payload))
    if args.output:
        args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
