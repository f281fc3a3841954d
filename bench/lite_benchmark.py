"""Lite benchmark: DAG shapes end to end on a real ``leoflow lite``, compared with Airflow 3.3.2.

Run it with ``.venv/bin/python bench/lite_benchmark.py`` (``--help`` for options). It starts
``leoflow lite`` as a user would (a subprocess with its own home and a workspace of four DAG
projects; subprocess executor, real agents in the DAGs' own virtualenv, built once before
anything is timed), against ``LEOFLOW_BENCH_DATABASE_URL`` (a PostgreSQL server: a scratch
database is created on it and dropped afterwards) or, when unset, an embedded PostgreSQL in a
temporary folder. Runs are triggered through the REST API, one at a time, after one untimed
warm-up run per shape. Every number is read back from what the control plane recorded (task
instance timestamps) and from what the task code itself returned; nothing is timed inside the
control plane for the benchmark's sake.

Shapes:

* **chain20**: 20 TaskFlow tasks in a line, each passing a small XCom to the next;
* **fanout50**: one task → 50 tasks reading its XCom → one reducer taking the list of 50;
* **wide100**, **wide1000**: independent no-op tasks.

Reported, per shape, as the median of the measured runs with min and max:

* **makespan**: REST trigger sent → last task instance ended;
* **handoff** (dependent tasks only): upstream ``end_date`` → downstream ``start_date`` (the
  task instance timestamps, Airflow's definition: ``running`` is recorded when the task's
  supervisor has started, before user code), p50/p95 over every dependent pair of every run;
* **handoff, user code**: the upstream function's last line → the downstream function's first
  line (``time.time()`` taken by the task code itself), the stricter figure;
* **scheduling latency**: upstream ``end_date`` (its terminal report) → downstream
  ``queued_at`` (dispatched to the executor);
* **tasks/s**: tasks / makespan;
* **per-task overhead of agent + runtime** (chain20): task instance ``queued_at`` →
  ``end_date`` minus the time spent in the task function, split into agent start (queued →
  running), runtime start (running → first line of the function) and wrap-up (last line →
  terminal report);
* **control-plane CPU per task** and **task-process CPU per task** (agents and runtimes);
* **peak RSS of the control plane** (the ``leoflow lite`` process: API, scheduler, agent
  service, executors, workspace sync), and of the per-venv agent fork servers and per-DAG
  runtime templates next to it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from leoflow.lite.embedded_db import start_embedded_postgres, stop_embedded_postgres
from leoflow.store.dsn import redact, with_database

RESULTS_DIR = Path(__file__).resolve().parent / "results"

AIRFLOW_VERSION = "3.3.2"
AIRFLOW = {
    "default": {
        "chain20_makespan_s": 21.6,
        "chain20_handoff_p50_ms": 980.0,
        "fanout50_makespan_s": 9.3,
        "wide100_makespan_s": 13.6,
        "wide100_tasks_per_s": 7.3,
        "scheduler_rss_mb": 1024.0,
    },
    "tuned": {"chain20_makespan_s": 5.1, "chain20_handoff_p50_ms": 92.0},
}
"""Apache Airflow 3.3.2, LocalExecutor, PostgreSQL, on the same kind of 2-core machine: default
settings, and tuned for latency (``scheduler_idle_sleep_time`` 0.01-0.1 s)."""

TARGETS = {
    "chain20_makespan_s": ("<=", 1.5),
    "chain20_handoff_p50_ms": ("<=", 40.0),
    "fanout50_makespan_s": ("<=", 2.0),
    "wide1000_tasks_per_s": (">=", 40.0),
    "control_plane_peak_rss_mb": ("<=", 250.0),
}

CHAIN_DAG = '''
"""chain20: 20 TaskFlow tasks in a line, each passing a small XCom to the next."""

import time
from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def bench_chain20():
    @task
    def step(previous, index):
        started = time.time()
        hops = 1 + (previous["hops"] if previous else 0)
        return {"index": index, "hops": hops, "started": started, "ended": time.time()}

    value = None
    for index in range(20):
        value = step.override(task_id=f"step_{index:02d}")(value, index)


bench_chain20()
'''

FANOUT_DAG = '''
"""fanout50: one task, 50 tasks reading its XCom, one reducer taking the list of 50."""

import time
from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def bench_fanout50():
    @task
    def source():
        started = time.time()
        return {"factor": 3, "started": started, "ended": time.time()}

    @task
    def work(data, index):
        started = time.time()
        return {"value": data["factor"] * index, "started": started, "ended": time.time()}

    @task
    def reduce(results):
        started = time.time()
        total = sum(item["value"] for item in results)
        return {"total": total, "count": len(results), "started": started, "ended": time.time()}

    data = source()
    reduce([work.override(task_id=f"work_{index:02d}")(data, index) for index in range(50)])


bench_fanout50()
'''

WIDE_DAG = '''
"""wide{count}: {count} independent no-op tasks."""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def bench_wide{count}():
    @task
    def noop(index):
        return None

    for index in range({count}):
        noop.override(task_id=f"noop_{{index:04d}}")(index)


bench_wide{count}()
'''

SHAPES: dict[str, tuple[str, str, int]] = {
    "chain20": ("bench_chain20", CHAIN_DAG, 20),
    "fanout50": ("bench_fanout50", FANOUT_DAG, 52),
    "wide100": ("bench_wide100", WIDE_DAG.format(count=100), 100),
    "wide1000": ("bench_wide1000", WIDE_DAG.format(count=1000), 1000),
}


# --- measurements --------------------------------------------------------------------------


@dataclass
class TaskRow:
    task_id: str
    state: str
    queued_at: float
    start_date: float
    end_date: float
    user_start: float | None = None
    user_end: float | None = None


@dataclass
class RunSample:
    """One measured run of one shape."""

    shape: str
    run_id: str
    state: str
    tasks: int
    makespan_s: float
    run_duration_s: float
    tasks_per_s: float
    handoff_ms: list[float] = field(default_factory=list)
    handoff_user_ms: list[float] = field(default_factory=list)
    scheduling_ms: list[float] = field(default_factory=list)
    agent_start_ms: list[float] = field(default_factory=list)
    runtime_start_ms: list[float] = field(default_factory=list)
    wrap_up_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)
    control_plane_cpu_ms: float = 0.0
    task_processes_cpu_ms: float = 0.0
    database_cpu_ms: float = 0.0


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(round(pct / 100 * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def _summary(values: list[float], digits: int = 1) -> dict[str, float]:
    """Median, min and max (of per-run values)."""
    if not values:
        return {}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def _spread(values: list[float], digits: int = 1) -> dict[str, float]:
    """p50 and p95 over pooled samples."""
    if not values:
        return {}
    return {
        "p50": round(_percentile(values, 50), digits),
        "p95": round(_percentile(values, 95), digits),
        "samples": len(values),
    }


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else float("nan")


# --- the process under test ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in KiB."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(rest.split()[0])
    return found


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(own CPU, CPU of reaped children) of a process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / tick
    children = (int(fields[13]) + int(fields[14])) / tick
    return own, children


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(x) for x in handle.read().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def database_backends(dsn: str) -> list[int]:
    """The server processes serving the scratch database (PostgreSQL on this machine)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def database_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds so far of each backend serving the database (empty when not local)."""
    return {pid: _cpu_seconds(pid)[0] for pid in database_backends(dsn)}


class LiteProcess:
    """``leoflow lite`` started as a user would, with its own home and workspace."""

    def __init__(
        self, home: Path, workspace: Path, dsn: str, extra_env: dict[str, str], nice: int = 0
    ) -> None:
        self.home = home
        self.workspace = workspace
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "lite.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
        env.update(
            {"LEOFLOW_HOME": str(home), "LEOFLOW_DATABASE_URL": dsn, "LEOFLOW_LOG_LEVEL": "INFO"}
        )
        env.update(extra_env)
        leoflow = Path(sys.executable).with_name("leoflow")
        priority = ["nice", "-n", str(nice)] if nice else []
        command = [
            *priority,
            str(leoflow),
            "lite",
            str(workspace),
            "--postgres",
            "external",
            "--executor",
            "subprocess",
            "--no-login",
            "--no-ui",
            "--port",
            str(self.port),
            "--log-format",
            "json",
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(home)
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def fork_servers(self) -> list[int]:
        """The agent fork servers and runtime templates (warm processes that fork tries)."""
        return [
            p
            for p in _children(self.pid)
            if "fork_server" in (line := _cmdline(p)) or "runtime_template" in line
        ]

    def cpu(self) -> tuple[float, float]:
        """(control-plane CPU, task-process CPU) so far, in seconds.

        Task processes: agents and runtimes (reaped by Lite, its fork servers or its runtime
        templates), plus the templates' own CPU (their DAG import, the forks of runtimes).
        """
        own, reaped = _cpu_seconds(self.pid)
        for server in self.fork_servers():
            server_own, server_reaped = _cpu_seconds(server)
            reaped += server_reaped
            if "runtime_template" in _cmdline(server):
                reaped += server_own
        return own, reaped

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text("utf-8", "replace").splitlines()
        return "\n".join(text[-lines:])

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def wait_ready(self, dsn: str, dag_ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"leoflow lite exited early:\n{self.tail()}")
            with contextlib.suppress(OSError, psycopg.Error):
                with psycopg.connect(dsn, autocommit=True) as conn:
                    rows = conn.execute(
                        "SELECT dag_id FROM dags WHERE latest_version_id IS NOT NULL "
                        "AND NOT is_paused"
                    ).fetchall()
                if {r[0] for r in rows} >= set(dag_ids):
                    self.request("GET", "/api/v2/monitor/health")
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the DAGs were not registered in {timeout:g} s:\n{self.tail()}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def write_workspace(workspace: Path, shapes: list[str]) -> None:
    for shape in shapes:
        dag_id, source, _ = SHAPES[shape]
        project = workspace / shape
        project.mkdir(parents=True, exist_ok=True)
        (project / "dag.py").write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        (project / "leoflow.yaml").write_text(
            f"dag_id: {dag_id}\ndefaults:\n  retries: 0\n", encoding="utf-8"
        )


# --- one run ---------------------------------------------------------------------------------


def _dependencies(conn: psycopg.Connection[Any], dag_id: str) -> dict[str, list[str]]:
    row = conn.execute(
        "SELECT v.spec FROM dags d JOIN dag_versions v ON v.id = d.latest_version_id "
        "WHERE d.dag_id = %s",
        (dag_id,),
    ).fetchone()
    assert row is not None
    return {task["task_id"]: list(task.get("depends_on") or []) for task in row[0]["tasks"]}


def _wait_run(conn: psycopg.Connection[Any], dag_id: str, run_id: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(
            "SELECT r.id, r.state, r.start_date, r.end_date FROM dag_runs r "
            "JOIN dags d ON d.id = r.dag_uuid WHERE d.dag_id = %s AND r.run_id = %s",
            (dag_id, run_id),
        ).fetchone()
        if row is not None and row[1] in ("success", "failed"):
            return row
        if time.monotonic() > deadline:
            raise RuntimeError(f"{dag_id} run {run_id} not finished after {timeout:g} s")
        time.sleep(0.05)


def _tasks(conn: psycopg.Connection[Any], run_uuid: uuid.UUID) -> dict[str, TaskRow]:
    rows = conn.execute(
        "SELECT task_id, state, queued_at, start_date, end_date FROM task_instances "
        "WHERE run_uuid = %s",
        (run_uuid,),
    ).fetchall()
    tasks = {r[0]: TaskRow(r[0], r[1], _ts(r[2]), _ts(r[3]), _ts(r[4])) for r in rows}
    for task_id, value in conn.execute(
        "SELECT task_id, value FROM xcom WHERE run_uuid = %s AND key = 'return_value'",
        (run_uuid,),
    ).fetchall():
        data = json.loads(bytes(value))
        if isinstance(data, dict) and task_id in tasks:
            tasks[task_id].user_start = data.get("started")
            tasks[task_id].user_end = data.get("ended")
    return tasks


def run_once(lite: LiteProcess, dsn: str, shape: str, timeout: float, nice: int = 0) -> RunSample:
    dag_id, _, expected = SHAPES[shape]
    if nice:  # the database's share of the work gets the same priority as the control plane
        for pid in database_backends(dsn):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, pid, nice)
    cpu_before = lite.cpu()
    db_before = database_cpu(dsn)
    sent = time.time()
    created = lite.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
    run_id = created["dag_run_id"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        run_uuid, state, run_start, run_end = _wait_run(conn, dag_id, run_id, timeout)
        tasks = _tasks(conn, run_uuid)
        depends = _dependencies(conn, dag_id)
    time.sleep(0.3)  # agents report before they exit: let them go before reading CPU
    cpu_after = lite.cpu()
    db_after = database_cpu(dsn)
    db_used = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items())
    if len(tasks) != expected:
        raise RuntimeError(f"{dag_id}: {len(tasks)} task instances, expected {expected}")
    last_end = max(t.end_date for t in tasks.values())
    makespan = last_end - sent
    sample = RunSample(
        shape=shape,
        run_id=run_id,
        state=state,
        tasks=len(tasks),
        makespan_s=makespan,
        run_duration_s=_ts(run_end) - _ts(run_start),
        tasks_per_s=len(tasks) / makespan,
        control_plane_cpu_ms=(cpu_after[0] - cpu_before[0]) * 1000 / len(tasks),
        task_processes_cpu_ms=(cpu_after[1] - cpu_before[1]) * 1000 / len(tasks),
        database_cpu_ms=db_used * 1000 / len(tasks),
    )
    for task in tasks.values():
        for upstream_id in depends.get(task.task_id, []):
            upstream = tasks[upstream_id]
            sample.handoff_ms.append((task.start_date - upstream.end_date) * 1000)
            sample.scheduling_ms.append((task.queued_at - upstream.end_date) * 1000)
            if upstream.user_end is not None and task.user_start is not None:
                sample.handoff_user_ms.append((task.user_start - upstream.user_end) * 1000)
        if task.user_start is not None and task.user_end is not None:
            sample.agent_start_ms.append((task.start_date - task.queued_at) * 1000)
            sample.runtime_start_ms.append((task.user_start - task.start_date) * 1000)
            sample.wrap_up_ms.append((task.end_date - task.user_end) * 1000)
            user = task.user_end - task.user_start
            sample.overhead_ms.append((task.end_date - task.queued_at - user) * 1000)
    return sample


# --- summary ---------------------------------------------------------------------------------


def summarize(samples: list[RunSample]) -> dict[str, Any]:
    by_shape: dict[str, list[RunSample]] = {}
    for sample in samples:
        by_shape.setdefault(sample.shape, []).append(sample)
    summary: dict[str, Any] = {}
    for shape, runs in by_shape.items():
        pooled: dict[str, list[float]] = {}
        for name in (
            "handoff_ms",
            "handoff_user_ms",
            "scheduling_ms",
            "agent_start_ms",
            "runtime_start_ms",
            "wrap_up_ms",
            "overhead_ms",
        ):
            pooled[name] = [v for run in runs for v in getattr(run, name)]
        summary[shape] = {
            "runs": len(runs),
            "all_succeeded": all(run.state == "success" for run in runs),
            "makespan_s": _summary([r.makespan_s for r in runs], 3),
            "run_duration_s": _summary([r.run_duration_s for r in runs], 3),
            "tasks_per_s": _summary([r.tasks_per_s for r in runs]),
            "control_plane_cpu_ms_per_task": _summary([r.control_plane_cpu_ms for r in runs]),
            "task_processes_cpu_ms_per_task": _summary([r.task_processes_cpu_ms for r in runs]),
            "database_cpu_ms_per_task": _summary([r.database_cpu_ms for r in runs]),
            **{name: _spread(values) for name, values in pooled.items() if values},
        }
    return summary


def headline(summary: dict[str, Any], rss_mb: float) -> dict[str, float]:
    def pick(shape: str, *path: str) -> float:
        node: Any = summary.get(shape, {})
        for key in path:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        return float(node) if isinstance(node, int | float) else float("nan")

    return {
        "chain20_makespan_s": pick("chain20", "makespan_s", "median"),
        "chain20_handoff_p50_ms": pick("chain20", "handoff_ms", "p50"),
        "fanout50_makespan_s": pick("fanout50", "makespan_s", "median"),
        "wide100_makespan_s": pick("wide100", "makespan_s", "median"),
        "wide100_tasks_per_s": pick("wide100", "tasks_per_s", "median"),
        "wide1000_tasks_per_s": pick("wide1000", "tasks_per_s", "median"),
        "control_plane_peak_rss_mb": rss_mb,
    }


def targets_met(numbers: dict[str, float]) -> dict[str, bool]:
    met = {}
    for name, (op, bound) in TARGETS.items():
        value = numbers.get(name, float("nan"))
        met[f"{name} {op} {bound:g}"] = value <= bound if op == "<=" else value >= bound
    return met


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = 0.0
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="ascii") as handle:
        memory_gib = int(handle.readline().split()[1]) / 1024 / 1024
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _fmt(value: Any, unit: str = "") -> str:
    if isinstance(value, float) and math.isnan(value):
        return "—"
    return f"{value:g}{unit}" if isinstance(value, float | int) else str(value)


def _cell(node: dict[str, Any], unit: str) -> str:
    if not node:
        return "—"
    return f"{_fmt(node['median'], unit)} ({_fmt(node['min'])}-{_fmt(node['max'])})"


def _pcell(node: dict[str, Any], unit: str) -> str:
    if not node:
        return "—"
    return f"{_fmt(node['p50'], unit)} / {_fmt(node['p95'], unit)}"


def markdown(report: dict[str, Any]) -> str:
    s = report["shapes"]
    h = report["headline"]
    m = report["machine"]
    af = AIRFLOW["default"]
    tuned = AIRFLOW["tuned"]

    def ratio(airflow: float, ours: float, higher_is_better: bool = False) -> str:
        if math.isnan(ours) or ours == 0:
            return "—"
        return f"{(ours / airflow if higher_is_better else airflow / ours):.0f}x"

    lines = [
        "# Lite benchmark",
        "",
        f"Measured {report['measured_at']} with `.venv/bin/python bench/lite_benchmark.py` "
        f"({report['runs']} measured runs per shape after one warm-up run; median with "
        "min-max, or p50 / p95 over all samples of all runs).",
        "",
        f"Machine: {m['cpus']} vCPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, {m['os']}, "
        f"Python {m['python']}, {report['database']}. Load average (1, 5, 15 min) at start "
        f"{', '.join(map(str, m['load_average_at_start']))}, at end "
        f"{', '.join(map(str, report['load_average_at_end']))}"
        + (f" ({report['note']})" if report.get("note") else "")
        + ".",
        f"Settings: Lite defaults ({report['settings']})"
        + (
            f"; `leoflow lite`, its agents and the database backends serving it ran at "
            f"niceness {report['nice']} (`--nice`)."
            if report.get("nice")
            else "."
        ),
        "",
        f"## Against Apache Airflow {AIRFLOW_VERSION} (LocalExecutor, PostgreSQL, same kind "
        "of 2-core machine)",
        "",
        "| metric | Airflow default | Airflow tuned | target | Leoflow Lite | vs default | met |",
        "|---|---|---|---|---|---|---|",
    ]
    met = report["targets_met"]

    def target(name: str) -> tuple[str, str]:
        if name not in TARGETS:
            return "—", ""
        op, bound = TARGETS[name]
        ok = met[f"{name} {op} {bound:g}"]
        return f"{op} {bound:g}", "yes" if ok else "**no**"

    rows = [
        ("chain20 makespan (s)", "chain20_makespan_s", af["chain20_makespan_s"],
         tuned["chain20_makespan_s"], False),
        ("chain20 handoff p50 (ms)", "chain20_handoff_p50_ms", af["chain20_handoff_p50_ms"],
         tuned["chain20_handoff_p50_ms"], False),
        ("fanout50 makespan (s)", "fanout50_makespan_s", af["fanout50_makespan_s"], None, False),
        ("wide100 makespan (s)", "wide100_makespan_s", af["wide100_makespan_s"], None, False),
        ("wide100 tasks/s", "wide100_tasks_per_s", af["wide100_tasks_per_s"], None, True),
        ("wide1000 tasks/s", "wide1000_tasks_per_s", None, None, True),
        ("control-plane peak RSS (MB)", "control_plane_peak_rss_mb", af["scheduler_rss_mb"],
         None, False),
    ]  # fmt: skip
    for label, key, default, tuned_value, higher in rows:
        bound, ok = target(key)
        ours = h[key]
        lines.append(
            f"| {label} | {_fmt(default) if default else '—'} | "
            f"{_fmt(tuned_value) if tuned_value else '—'} | {bound} | {_fmt(round(ours, 3))} | "
            f"{ratio(default, ours, higher) if default else '—'} | {ok} |"
        )
    lines += [
        "",
        "Airflow's memory figure is its scheduler after those runs (~1 GB); ours is the peak "
        "of the whole `leoflow lite` process (API, UI, scheduler, agent service, executors, "
        f"workspace sync). The agent fork servers and runtime templates beside it peaked at "
        f"{report['fork_servers_peak_rss_mb']} MB in total.",
        "",
        "## Per shape",
        "",
        "| shape | tasks | makespan s | tasks/s | handoff p50 / p95 ms | handoff (user code) "
        "p50 / p95 ms | scheduling latency p50 / p95 ms | control-plane CPU ms/task | "
        "task-process CPU ms/task | database CPU ms/task |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for shape in SHAPES:
        if shape not in s:
            continue
        node = s[shape]
        lines.append(
            f"| {shape} | {SHAPES[shape][2]} | {_cell(node['makespan_s'], '')} | "
            f"{_cell(node['tasks_per_s'], '')} | {_pcell(node.get('handoff_ms', {}), '')} | "
            f"{_pcell(node.get('handoff_user_ms', {}), '')} | "
            f"{_pcell(node.get('scheduling_ms', {}), '')} | "
            f"{_cell(node['control_plane_cpu_ms_per_task'], '')} | "
            f"{_cell(node['task_processes_cpu_ms_per_task'], '')} | "
            f"{_cell(node.get('database_cpu_ms_per_task', {}), '')} |"
        )
    chain = s.get("chain20", {})
    if chain:
        lines += [
            "",
            "## Per-task overhead of agent + runtime (chain20, p50 / p95 ms)",
            "",
            "| queued → end, minus the task function | agent start (queued → running) | "
            "runtime start (running → first line) | wrap-up (last line → reported) |",
            "|---|---|---|---|",
            f"| {_pcell(chain.get('overhead_ms', {}), '')} | "
            f"{_pcell(chain.get('agent_start_ms', {}), '')} | "
            f"{_pcell(chain.get('runtime_start_ms', {}), '')} | "
            f"{_pcell(chain.get('wrap_up_ms', {}), '')} |",
        ]
    return "\n".join(lines) + "\n"


# --- main ------------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(server_dsn: str | None, keep: bool) -> Iterator[tuple[str, str]]:
    """A fresh database (name, dsn) on the given server, or on an embedded one."""
    embedded: Path | None = None
    if server_dsn is None:
        embedded = Path(tempfile.mkdtemp(prefix="leoflow-bench-pg-")) / "pgdata"
        server_dsn = start_embedded_postgres(embedded)
    name = f"leoflow_bench_lite_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        version = admin.execute("SHOW server_version").fetchone()
    described = f"PostgreSQL {version[0] if version else '?'} " + (
        "embedded" if embedded else f"at {redact(server_dsn).rsplit('/', 1)[0]}"
    )
    try:
        yield with_database(server_dsn, name), described
    finally:
        if not keep:
            with psycopg.connect(server_dsn, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        if embedded is not None:
            stop_embedded_postgres(embedded)


def run(args: argparse.Namespace) -> dict[str, Any]:
    shapes = [s for s in SHAPES if s in args.shapes]
    home = Path(args.home or tempfile.mkdtemp(prefix="leoflow-bench-lite-")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    workspace = home / "workspace"
    write_workspace(workspace, shapes)
    started_machine = machine()
    extra_env = dict(item.split("=", 1) for item in args.env)
    samples: list[RunSample] = []
    with scratch_database(args.database_url, args.keep_database) as (dsn, database):
        lite = LiteProcess(home, workspace, dsn, extra_env, args.nice)
        try:
            print(f"leoflow lite (pid {lite.pid}) at {lite.url}, log {lite.log_path}", flush=True)
            lite.wait_ready(dsn, [SHAPES[s][0] for s in shapes], args.ready_timeout)
            for shape in shapes:
                warm = run_once(lite, dsn, shape, args.run_timeout, args.nice)
                print(f"warm-up {shape}: {warm.makespan_s:.2f} s ({warm.state})", flush=True)
            for shape in shapes:
                for index in range(args.runs):
                    sample = run_once(lite, dsn, shape, args.run_timeout, args.nice)
                    samples.append(sample)
                    print(
                        f"{shape} run {index + 1}: {sample.makespan_s:.3f} s, "
                        f"{sample.tasks_per_s:.1f} tasks/s, state {sample.state}",
                        flush=True,
                    )
                    time.sleep(0.5)
            peak = _proc_status(lite.pid).get("VmHWM", 0) / 1024
            forks = sum(_proc_status(p).get("VmHWM", 0) for p in lite.fork_servers()) / 1024
        finally:
            lite.stop()
    if not args.home:
        shutil.rmtree(home, ignore_errors=True)
    summary = summarize(samples)
    numbers = headline(summary, round(peak, 1))
    return {
        "measured_at": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": started_machine,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "database": database,
        "settings": ", ".join(args.env) or "no overrides",
        "nice": args.nice,
        "note": args.note,
        "runs": args.runs,
        "headline": numbers,
        "targets_met": targets_met(numbers),
        "airflow": AIRFLOW,
        "control_plane_peak_rss_mb": round(peak, 1),
        "fork_servers_peak_rss_mb": round(forks, 1),
        "shapes": summary,
        "samples": [asdict(sample) for sample in samples] if args.keep_samples else [],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs per shape (>= 3)")
    parser.add_argument(
        "--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES), help="shapes to run"
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (default: env)")
    parser.add_argument("--home", default=None, help="Lite home to use (and keep)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for leoflow lite, e.g. LEOFLOW_SUBPROCESS_FORK_SERVER=false",
    )
    parser.add_argument("--output", default=str(RESULTS_DIR / "lite"), help="file stem")
    parser.add_argument("--note", default="", help="a remark printed with the machine")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run leoflow lite (its agents inherit it) and the database backends serving it "
        "at this niceness; negative values (root) shield the measurement from other work on "
        "a shared machine",
    )
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--keep-samples", action="store_true", help="raw samples in the JSON")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--run-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if args.database_url is None:
        args.database_url = os.environ.get("LEOFLOW_BENCH_DATABASE_URL")
    report = run(args)
    stem = Path(args.output)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    text = markdown(report)
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
