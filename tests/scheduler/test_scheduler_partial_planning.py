"""Planning runs from their changed tasks gives the outcomes of planning them in full.

Random DAG shapes (fan-in, fan-out, every trigger rule, ``empty`` tasks, tries that fail then
succeed, tasks that fail for good or skip) run end to end on a real PostgreSQL twice: under a
scheduler that plans event passes from the changed tasks (every run, however small) and under
one that always reads whole runs. Every task instance must end in the same state after the same
number of tries, and every run with the same verdict. The periodic full pass is kept out of
the way, so a move the event passes missed would leave a run unfinished rather than be made up
for by the safety net.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import pytest
from scheduler_harness import dag_json, python_task, register, wait_for_run
from scheduler_harness import test_settings as harness_settings

from leoflow.executors.base import TaskLaunch
from leoflow.executors.scripted import ScriptedExecutor, Step
from leoflow.scheduler import incremental
from leoflow.scheduler.operations import trigger_dag_run
from leoflow.scheduler.service import Scheduler
from leoflow.spec import TriggerRule
from leoflow.states import RunState, TaskState
from leoflow.store.pool import Pool
from leoflow.store.task_instances import list_task_instances

pytestmark = pytest.mark.timeout(180)

SHAPES = 14

Outcome = tuple[TaskState, ...]
"""What each try of a task reports, in order (the last one repeats)."""


def _shape(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, Outcome]]:
    tasks: list[dict[str, Any]] = []
    outcomes: dict[str, Outcome] = {}
    for i in range(rng.randint(3, 10)):
        task_id = f"t{i}"
        upstream = sorted(rng.sample(range(i), rng.randint(0, min(i, 3))))
        extra: dict[str, Any] = {"trigger_rule": rng.choice(list(TriggerRule)).value}
        if rng.random() < 0.2:
            tasks.append(
                {
                    "task_id": task_id,
                    "type": "empty",
                    "depends_on": [f"t{u}" for u in upstream],
                    **extra,
                }
            )
            continue
        ending = rng.choice(
            [
                (TaskState.SUCCESS,),
                (TaskState.SUCCESS,),
                (TaskState.FAILED,),
                (TaskState.SKIPPED,),
                (TaskState.FAILED, TaskState.SUCCESS),
                (TaskState.FAILED, TaskState.FAILED),
            ]
        )
        if len(ending) > 1:
            extra.update(retries=1, retry_delay_seconds=0)
        outcomes[task_id] = ending
        tasks.append(python_task(task_id, *(f"t{u}" for u in upstream), **extra))
    return tasks, outcomes


def _script(outcomes: dict[str, dict[str, Outcome]]) -> Callable[[TaskLaunch], Step]:
    def step(launch: TaskLaunch) -> Step:
        shape = launch.dag_id.rsplit("_", 1)[0]
        tries = outcomes[shape][launch.task_id]
        return Step(outcome=tries[min(launch.try_number, len(tries)) - 1], seconds=0.02)

    return step


@asynccontextmanager
async def _scheduler(
    pool: Pool, database_url: str, script: Callable[[TaskLaunch], Step], partial: int | None
) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(
        pool,
        database_url,
        lambda reporter: ScriptedExecutor(reporter, pool, script, heartbeat_seconds=0.1),
        # No periodic full pass during the test: the event passes alone must finish the runs.
        harness_settings(database_url, dispatch_queue_size=200, scheduler_tick_seconds=120),
        partial_plan_min_tasks=partial,
    )
    loop = asyncio.create_task(scheduler.run())
    try:
        yield scheduler
    finally:
        await scheduler.stop()
        await asyncio.wait_for(loop, 10)
        executor = scheduler.executor
        assert isinstance(executor, ScriptedExecutor)
        await executor.close()


Ending = tuple[RunState, dict[str, tuple[TaskState, int]]]


async def _run_all(
    pool: Pool,
    database_url: str,
    shapes: dict[str, list[dict[str, Any]]],
    outcomes: dict[str, dict[str, Outcome]],
    *,
    mode: str,
    partial: int | None,
) -> dict[str, Ending]:
    dags = {
        name: await register(pool, dag_json(f"{name}_{mode}", tasks))
        for name, tasks in shapes.items()
    }
    endings: dict[str, Ending] = {}
    async with _scheduler(pool, database_url, _script(outcomes), partial):
        runs: dict[str, UUID] = {
            name: (await trigger_dag_run(pool, dag_uuid)).id for name, dag_uuid in dags.items()
        }
        for name, run_uuid in runs.items():
            done = await wait_for_run(pool, run_uuid, timeout=30)
            tis = await list_task_instances(pool, run_uuid)
            endings[name] = (done.state, {ti.task_id: (ti.state, ti.try_number) for ti in tis})
    return endings


async def test_partial_plans_end_every_run_as_full_plans_do(
    db_pool: Pool, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20261128)
    shapes: dict[str, list[dict[str, Any]]] = {}
    outcomes: dict[str, dict[str, Outcome]] = {}
    for k in range(SHAPES):
        shapes[f"shape{k}"], outcomes[f"shape{k}"] = _shape(rng)

    partial_plans = 0
    real = incremental.plan_run_changes

    async def counted(*args: Any, **kwargs: Any) -> incremental.PartialPlan:
        nonlocal partial_plans
        plan = await real(*args, **kwargs)
        partial_plans += 0 if plan.needs_full_plan else 1
        return plan

    monkeypatch.setattr(incremental, "plan_run_changes", counted)
    partial = await _run_all(db_pool, database_url, shapes, outcomes, mode="partial", partial=1)
    assert partial_plans > SHAPES  # the event passes did plan from changes
    seen = partial_plans
    full = await _run_all(db_pool, database_url, shapes, outcomes, mode="full", partial=None)
    assert partial_plans == seen  # the reference never planned from changes

    assert partial == full
    verdicts = {state for state, _ in full.values()}
    assert verdicts == {RunState.SUCCESS, RunState.FAILED}  # the shapes exercise both
    ends = {state for _, tis in full.values() for state, _ in tis.values()}
    assert {TaskState.UPSTREAM_FAILED, TaskState.SKIPPED, TaskState.FAILED} <= ends
    assert any(tries == 2 for _, tis in full.values() for _, tries in tis.values())
