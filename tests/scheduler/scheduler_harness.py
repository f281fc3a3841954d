"""Helpers to run a real scheduler (leadership, loop, dispatch) against a test database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from leoflow.config import Settings, load_settings
from leoflow.executors.scripted import Script, ScriptedExecutor, always_succeed
from leoflow.scheduler.service import Scheduler
from leoflow.spec import dag_spec_from_data, spec_hash
from leoflow.states import RunState
from leoflow.store.dag_runs import DagRun, get_dag_run
from leoflow.store.dag_versions import register_dag_version
from leoflow.store.dags import set_dag_paused
from leoflow.store.pool import Pool
from leoflow.store.tenants import get_default_tenant_id


def python_task(task_id: str, *upstream: str, **extra: Any) -> dict[str, Any]:
    """A dag.json python task."""
    return {
        "task_id": task_id,
        "type": "python",
        "entrypoint": f"dag:{task_id}",
        "depends_on": list(upstream),
        **extra,
    }


def dag_json(dag_id: str, tasks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A valid dag.json document (validated through the spec models)."""
    data = {
        "schema_version": "1.0",
        "dag_id": dag_id,
        "source": "# test DAG\n",
        "tasks": tasks,
        **extra,
    }
    dag_spec_from_data(data)
    return data


async def register(pool: Pool, data: dict[str, Any], *, paused: bool = False) -> UUID:
    """Register a DAG version and set its paused flag; returns the DAG's UUID."""
    tenant = await get_default_tenant_id(pool)
    spec = dag_spec_from_data(data)
    version, _ = await register_dag_version(pool, tenant, spec.dag_id, data, spec_hash(spec))
    await set_dag_paused(pool, tenant, spec.dag_id, paused)
    return version.dag_uuid


def test_settings(database_url: str, **overrides: Any) -> Settings:
    """Fast settings for tests: short tick, no reaper grace."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "scheduler_tick_seconds": 0.2,
        "scheduler_follower_retry_seconds": 0.2,
        "leader_watchdog_interval_seconds": 0.2,
        "reaper_grace_seconds": 0.0,
        "dispatch_workers": 4,
        "dispatch_queue_size": 200,
    }
    values.update(overrides)
    return load_settings(**values)


@asynccontextmanager
async def running_scheduler(
    pool: Pool, database_url: str, script: Script = always_succeed, **overrides: Any
) -> AsyncIterator[Scheduler]:
    """A scheduler with a scripted executor, leading and looping until the block ends."""
    settings = test_settings(database_url, **overrides)
    scheduler = Scheduler(
        pool,
        database_url,
        lambda reporter: ScriptedExecutor(reporter, pool, script, heartbeat_seconds=0.1),
        settings,
    )
    task = asyncio.create_task(scheduler.run())
    try:
        yield scheduler
    finally:
        await scheduler.stop()
        await asyncio.wait_for(task, 10)
        executor = scheduler.executor
        assert isinstance(executor, ScriptedExecutor)
        await executor.close()


async def wait_for_run(
    pool: Pool,
    run_uuid: UUID,
    states: tuple[RunState, ...] = (RunState.SUCCESS, RunState.FAILED),
    timeout: float = 30.0,
) -> DagRun:
    """Poll until the run reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        run = await get_dag_run(pool, run_uuid)
        assert run is not None
        if run.state in states:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run.run_id} still {run.state} after {timeout}s")
        await asyncio.sleep(0.05)


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    """Poll an async or sync predicate until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
