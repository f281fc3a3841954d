"""Two scheduler processes on one database: one leads; killing it hands over with no try
dispatched twice, and the DAG still completes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from scheduler_harness import dag_json, python_task, register, wait_for_run, wait_until

from leoflow.scheduler.operations import trigger_dag_run
from leoflow.states import RunState
from leoflow.store.pool import Pool

WORKER = Path(__file__).with_name("ha_scheduler_process.py")


async def _leader_pid(pool: Pool) -> int | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT scheduler_id FROM scheduler_heartbeats WHERE is_leader "
            "AND heartbeat_at > now() - interval '2 seconds' ORDER BY heartbeat_at DESC LIMIT 1"
        )
        row = await cur.fetchone()
    return int(row[0].removeprefix("ha-")) if row else None


async def _succeeded(pool: Pool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM task_instances WHERE state = 'success'")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_killing_the_leader_hands_over_without_duplicate_dispatch(
    db_pool: Pool, database_url: str, tmp_path: Path
) -> None:
    ids = [f"step{i}" for i in range(8)]
    tasks = [
        python_task(tid, *([ids[i - 1]] if i else []), retries=1, retry_delay_seconds=0)
        for i, tid in enumerate(ids)
    ]
    dag_uuid = await register(db_pool, dag_json("ha_chain", tasks))
    launch_log = tmp_path / "launches.txt"
    env = {**os.environ, "PYTHONPATH": str(WORKER.parent.parent)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), database_url, str(launch_log)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        await wait_until(lambda: _leader_pid(db_pool), timeout=60)
        first_leader = await _leader_pid(db_pool)
        assert first_leader in {p.pid for p in procs}
        run = await trigger_dag_run(db_pool, dag_uuid)
        await wait_until(lambda: _at_least(db_pool, 3), timeout=60)
        os.kill(first_leader, signal.SIGKILL)  # type: ignore[arg-type]
        await wait_until(lambda: _new_leader(db_pool, first_leader), timeout=60)
        done = await wait_for_run(db_pool, run.id, timeout=150)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert done.state is RunState.SUCCESS
    lines = [line.split() for line in launch_log.read_text().splitlines()]
    tries = Counter((ti, attempt) for ti, attempt, _ in lines)
    assert max(tries.values()) == 1, f"a try was dispatched twice: {tries.most_common(3)}"
    launching_pids = {int(pid) for _, _, pid in lines}
    assert len(launching_pids) == 2  # both replicas dispatched: one before, one after the kill
    await asyncio.sleep(0)


async def _at_least(pool: Pool, count: int) -> bool:
    return await _succeeded(pool) >= count


async def _new_leader(pool: Pool, old: int | None) -> bool:
    pid = await _leader_pid(pool)
    return pid is not None and pid != old
