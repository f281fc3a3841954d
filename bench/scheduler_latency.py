"""Scheduler benchmark: hand-off latency and the cost of a full reconciliation pass.

Run it with ``.venv/bin/python bench/scheduler_latency.py`` (``--help`` for options). It uses
``LEOFLOW_BENCH_DATABASE_URL`` (a PostgreSQL server; a scratch database is created on it and
dropped afterwards) or, when unset, an embedded PostgreSQL in a temporary directory.

What it measures, on the in-process scripted executor (no process start-up, so the numbers are
the scheduler's own):

* **scheduling latency**: from an upstream task's terminal state report being written to its
  downstream task being handed to the executor, over chains of tasks (p50, p95, p99);
* **full pass**: one complete reconciliation pass (scheduled runs, queued runs, every running
  run checked, reapers, dispatch) with N active runs x M tasks each (median and p95 of warm
  passes, plus the cold first pass). A warm pass loads and plans only the runs whose task
  instances changed since they were last found stable (a per-run fingerprint computed inside
  PostgreSQL); the cold pass after a start or a leader change plans every run.

Targets: latency p50 ≤ 5 ms and p99 ≤ 20 ms; full pass with 1,000 runs x 20 tasks ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from leoflow.config import load_settings
from leoflow.executors.scripted import ScriptedExecutor
from leoflow.lite.embedded_db import start_embedded_postgres, stop_embedded_postgres
from leoflow.scheduler.operations import trigger_dag_run
from leoflow.scheduler.service import Scheduler
from leoflow.spec import dag_spec_from_data, spec_hash
from leoflow.store.dag_versions import register_dag_version
from leoflow.store.dags import set_dag_paused
from leoflow.store.dsn import with_database
from leoflow.store.pool import Pool, create_pool
from leoflow.store.schema import migrate
from leoflow.store.tenants import get_default_tenant_id


@dataclass
class Results:
    """What one benchmark run reports."""

    machine: str
    python: str
    database: str
    chain_length: int
    chains: int
    latency_samples: int
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_p99: float
    full_pass_runs: int
    full_pass_tasks_per_run: int
    full_pass_ms_median: float
    full_pass_ms_p95: float
    full_pass_cold_ms: float


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(round(pct / 100 * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def _dag(dag_id: str, length: int) -> dict[str, Any]:
    tasks = [
        {
            "task_id": f"t{i:03d}",
            "type": "python",
            "entrypoint": f"dag:t{i:03d}",
            "depends_on": [f"t{i - 1:03d}"] if i else [],
        }
        for i in range(length)
    ]
    data = {"schema_version": "1.0", "dag_id": dag_id, "source": "#\n", "tasks": tasks}
    dag_spec_from_data(data)
    return data


async def _register(pool: Pool, data: dict[str, Any]) -> uuid.UUID:
    tenant = await get_default_tenant_id(pool)
    spec = dag_spec_from_data(data)
    version, _ = await register_dag_version(pool, tenant, spec.dag_id, data, spec_hash(spec))
    await set_dag_paused(pool, tenant, spec.dag_id, False)
    return version.dag_uuid


def _scheduler(pool: Pool, dsn: str) -> Scheduler:
    settings = load_settings(
        database_url=dsn,
        scheduler_tick_seconds=1.0,
        reaper_grace_seconds=0.0,
        dispatch_workers=8,
        dispatch_queue_size=256,
    )
    return Scheduler(pool, dsn, lambda rep: ScriptedExecutor(rep, pool), settings)


async def measure_latency(pool: Pool, dsn: str, length: int, chains: int) -> list[float]:
    """Hand-off latency samples (seconds) over ``chains`` runs of a ``length``-task chain."""
    dag_uuid = await _register(pool, _dag("bench_chain", length))
    scheduler = _scheduler(pool, dsn)
    loop = asyncio.create_task(scheduler.run())
    executor = scheduler.executor
    assert isinstance(executor, ScriptedExecutor)
    samples: list[float] = []
    try:
        for _ in range(chains):
            executor.launches.clear()
            await trigger_dag_run(pool, dag_uuid)
            deadline = time.monotonic() + 120
            while sum(1 for r in executor.launches if r.finished_at) < length:
                if time.monotonic() > deadline:
                    raise RuntimeError("chain did not finish in 120 s")
                await asyncio.sleep(0.01)
            records = sorted(executor.launches, key=lambda r: r.submitted_at)
            for before, after in itertools.pairwise(records):
                assert before.finished_at is not None
                samples.append(after.submitted_at - before.finished_at)
            await asyncio.sleep(0.2)  # let the run finalize before the next trigger
    finally:
        await scheduler.stop()
        await asyncio.wait_for(loop, 10)
        await executor.close()
    return samples


_SEED_RUNS = """
    INSERT INTO dag_runs (id, dag_uuid, run_id, dag_version_id, state, run_type, logical_date,
                          run_after, start_date)
    SELECT gen_random_uuid(), %(dag)s, 'bench__' || g, %(version)s, 'running', 'manual',
           now() - make_interval(secs => g), now() - make_interval(secs => g), now()
    FROM generate_series(1, %(runs)s) AS g
"""

_SEED_TIS = """
    INSERT INTO task_instances (run_uuid, task_id, state, last_heartbeat_at, start_date)
    SELECT r.id, 't' || lpad(t::text, 3, '0'),
           CASE WHEN t < %(half)s THEN 'success' WHEN t = %(half)s THEN 'running' ELSE 'none' END,
           now(), now()
    FROM dag_runs r CROSS JOIN generate_series(0, %(tasks)s - 1) AS t
    WHERE r.dag_uuid = %(dag)s
"""


async def measure_full_pass(
    pool: Pool, dsn: str, runs: int, tasks: int, repeats: int
) -> list[float]:
    """Durations (seconds) of full passes over ``runs`` running runs of ``tasks`` tasks."""
    dag_uuid = await _register(pool, _dag("bench_wide", tasks))
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT latest_version_id FROM dags WHERE id = %s", (dag_uuid,))
        row = await cur.fetchone()
        assert row is not None
        params = {"dag": dag_uuid, "version": row[0], "runs": runs, "tasks": tasks}
        await conn.execute(_SEED_RUNS, params)
        await conn.execute(_SEED_TIS, {**params, "half": tasks // 2})
        await conn.execute("ANALYZE")
    scheduler = _scheduler(pool, dsn)
    durations: list[float] = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        await scheduler.run_pass(full=True)
        durations.append(time.perf_counter() - started)
    await scheduler.executor.close()
    return durations  # the first pass is cold: empty DAG catalog, every run planned


async def run(args: argparse.Namespace) -> Results:
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
        pool = await create_pool(dsn, min_size=2, max_size=10)
        try:
            latency = await measure_latency(pool, dsn, args.chain_length, args.chains)
            passes = await measure_full_pass(pool, dsn, args.runs, args.tasks, args.repeats)
        finally:
            await pool.close()
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if embedded_dir is not None:
            stop_embedded_postgres(embedded_dir)
    ms = [v * 1000 for v in latency]
    pass_ms = [v * 1000 for v in passes]
    return Results(
        machine=f"{platform.machine()} {platform.processor() or ''} {_cpus()} CPUs".strip(),
        python=sys.version.split()[0],
        database="embedded" if embedded_dir else "external",
        chain_length=args.chain_length,
        chains=args.chains,
        latency_samples=len(ms),
        latency_ms_p50=round(_percentile(ms, 50), 2),
        latency_ms_p95=round(_percentile(ms, 95), 2),
        latency_ms_p99=round(_percentile(ms, 99), 2),
        full_pass_runs=args.runs,
        full_pass_tasks_per_run=args.tasks,
        full_pass_ms_median=round(statistics.median(pass_ms[1:]), 1),
        full_pass_ms_p95=round(_percentile(pass_ms[1:], 95), 1),
        full_pass_cold_ms=round(pass_ms[0], 1),
    )


def _cpus() -> int:
    return os.cpu_count() or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL server (default: env or embedded)"
    )
    parser.add_argument("--chain-length", type=int, default=50)
    parser.add_argument("--chains", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--output", type=Path, default=None, help="write results as JSON here")
    args = parser.parse_args(argv)
    if args.database_url is None:
        args.database_url = os.environ.get("LEOFLOW_BENCH_DATABASE_URL")
    results = asyncio.run(run(args))
    payload = asdict(results)
    targets = {
        "latency_ms_p50 <= 5": results.latency_ms_p50 <= 5,
        "latency_ms_p99 <= 20": results.latency_ms_p99 <= 20,
        "full_pass_ms_median <= 100": results.full_pass_ms_median <= 100,
    }
    payload["targets_met"] = targets
    text = json.dumps(payload, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
