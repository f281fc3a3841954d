"""The scheduler end to end on a real PostgreSQL, with the in-process scripted executor.

Each test runs the real loop (leadership, wake-ups, planning, dispatch pool, reapers) and reads
the outcome back from the database.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

from scheduler_harness import (
    dag_json,
    python_task,
    register,
    running_scheduler,
    wait_for_run,
    wait_until,
)

from leoflow.executors.base import TaskLaunch
from leoflow.executors.scripted import Step
from leoflow.scheduler.operations import (
    ClearRequest,
    clear_task_instances,
    mark_dag_run,
    trigger_dag_run,
)
from leoflow.states import RunState, TaskState
from leoflow.store.dag_runs import RunType, create_dag_run
from leoflow.store.dag_versions import get_latest_dag_version
from leoflow.store.dags import set_dag_paused
from leoflow.store.pool import Pool
from leoflow.store.scheduling import count_running_runs
from leoflow.store.task_instances import list_task_instance_tries, list_task_instances
from leoflow.store.tenants import get_default_tenant_id


async def test_twenty_task_chain_runs_in_order(db_pool: Pool, database_url: str) -> None:
    ids = [f"t{i:02d}" for i in range(20)]
    tasks = [python_task(tid, *([ids[i - 1]] if i else [])) for i, tid in enumerate(ids)]
    dag_uuid = await register(db_pool, dag_json("chain20", tasks))
    async with running_scheduler(db_pool, database_url) as scheduler:
        run = await trigger_dag_run(db_pool, dag_uuid)
        done = await wait_for_run(db_pool, run.id)
        launches = scheduler.executor.launches  # type: ignore[attr-defined]
    assert done.state is RunState.SUCCESS
    assert [r.launch.task_id for r in launches] == ids
    for before, after in itertools.pairwise(launches):
        assert before.finished_at is not None and before.finished_at <= after.submitted_at
    states = {ti.task_id: ti.state for ti in await list_task_instances(db_pool, run.id)}
    assert set(states.values()) == {TaskState.SUCCESS}


async def test_fan_out_of_fifty_then_a_reducer(db_pool: Pool, database_url: str) -> None:
    branches = [python_task(f"map_{i}", "start") for i in range(50)]
    reducer = python_task("reduce", *[b["task_id"] for b in branches])
    tasks = [{"task_id": "start", "type": "empty"}, *branches, reducer]
    dag_uuid = await register(db_pool, dag_json("fanout50", tasks))
    async with running_scheduler(db_pool, database_url) as scheduler:
        run = await trigger_dag_run(db_pool, dag_uuid)
        done = await wait_for_run(db_pool, run.id)
        launches = scheduler.executor.launches  # type: ignore[attr-defined]
    assert done.state is RunState.SUCCESS
    names = [r.launch.task_id for r in launches]
    assert "start" not in names  # empty tasks complete in the scheduler, never dispatched
    assert sorted(names[:-1]) == sorted(b["task_id"] for b in branches)
    assert names[-1] == "reduce"
    last_branch_end = max(r.finished_at or 0 for r in launches[:-1])
    assert launches[-1].submitted_at >= last_branch_end


async def test_failure_then_retry_then_success(db_pool: Pool, database_url: str) -> None:
    tasks = [
        python_task("flaky", retries=2, retry_delay_seconds=0.2),
        python_task("after", "flaky"),
    ]
    dag_uuid = await register(db_pool, dag_json("flaky_dag", tasks))

    def script(launch: TaskLaunch) -> Step:
        if launch.task_id == "flaky" and launch.try_number == 1:
            return Step(TaskState.FAILED)
        return Step()

    async with running_scheduler(db_pool, database_url, script) as scheduler:
        run = await trigger_dag_run(db_pool, dag_uuid)
        done = await wait_for_run(db_pool, run.id)
        launches = scheduler.executor.launches  # type: ignore[attr-defined]
    assert done.state is RunState.SUCCESS
    flaky_tries = [r for r in launches if r.launch.task_id == "flaky"]
    assert [r.launch.try_number for r in flaky_tries] == [1, 2]
    # the retry waited for retry_delay_seconds after the failure
    assert flaky_tries[1].submitted_at - (flaky_tries[0].finished_at or 0) >= 0.15
    tis = {ti.task_id: ti for ti in await list_task_instances(db_pool, run.id)}
    assert tis["flaky"].try_number == 2 and tis["flaky"].state is TaskState.SUCCESS
    history = await list_task_instance_tries(db_pool, tis["flaky"].id)
    assert [(h.try_number, h.state) for h in history] == [(1, TaskState.UP_FOR_RETRY)]


async def test_no_retries_left_fails_the_run(db_pool: Pool, database_url: str) -> None:
    tasks = [python_task("boom", retries=1, retry_delay_seconds=0), python_task("next", "boom")]
    dag_uuid = await register(db_pool, dag_json("always_fails", tasks))
    async with running_scheduler(db_pool, database_url, lambda _: Step(TaskState.FAILED)):
        run = await trigger_dag_run(db_pool, dag_uuid)
        done = await wait_for_run(db_pool, run.id)
    assert done.state is RunState.FAILED
    tis = {ti.task_id: ti for ti in await list_task_instances(db_pool, run.id)}
    assert (tis["boom"].state, tis["boom"].try_number) == (TaskState.FAILED, 2)
    assert tis["next"].state is TaskState.UPSTREAM_FAILED


async def test_max_active_runs_one_with_five_triggers(db_pool: Pool, database_url: str) -> None:
    data = dag_json("serial", [python_task("work")], max_active_runs=1)
    dag_uuid = await register(db_pool, data)
    concurrent: list[int] = []

    async with running_scheduler(db_pool, database_url, lambda _: Step(seconds=0.05)) as sched:

        async def observe(_: TaskLaunch) -> None:
            concurrent.append((await count_running_runs(db_pool, [dag_uuid])).get(dag_uuid, 0))

        sched.executor.on_submit = observe  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        runs = [
            await trigger_dag_run(db_pool, dag_uuid, logical_date=now + timedelta(seconds=i))
            for i in range(5)
        ]
        finished = [await wait_for_run(db_pool, run.id) for run in runs]
    assert [r.state for r in finished] == [RunState.SUCCESS] * 5
    assert concurrent == [1] * 5
    starts = sorted(r.start_date for r in finished if r.start_date)
    ends = sorted(r.end_date for r in finished if r.end_date)
    for next_start, previous_end in zip(starts[1:], ends, strict=False):
        assert next_start >= previous_end


async def test_clear_failed_task_reruns_only_it_and_downstream(
    db_pool: Pool, database_url: str
) -> None:
    tasks = [
        python_task("a"),
        python_task("b", "a"),
        python_task("c", "b"),
        python_task("d"),
    ]
    dag_uuid = await register(db_pool, dag_json("clearable", tasks))

    def script(launch: TaskLaunch) -> Step:
        failing = launch.task_id == "b" and launch.try_number == 1
        return Step(TaskState.FAILED if failing else TaskState.SUCCESS)

    async with running_scheduler(db_pool, database_url, script) as scheduler:
        run = await trigger_dag_run(db_pool, dag_uuid)
        first = await wait_for_run(db_pool, run.id)
        assert first.state is RunState.FAILED
        before = len(scheduler.executor.launches)  # type: ignore[attr-defined]
        dry = await clear_task_instances(
            db_pool,
            scheduler.catalog,
            run.id,
            ClearRequest(task_ids=frozenset({"b"}), include_downstream=True, dry_run=True),
        )
        assert sorted(ti.task_id for ti in dry.cleared) == ["b", "c"]
        result = await clear_task_instances(
            db_pool,
            scheduler.catalog,
            run.id,
            ClearRequest(task_ids=frozenset({"b"}), include_downstream=True),
        )
        assert sorted(ti.task_id for ti in result.cleared) == ["b", "c"]
        assert result.run is not None and result.run.state is RunState.QUEUED
        second = await wait_for_run(db_pool, run.id)
        rerun = [r.launch.task_id for r in scheduler.executor.launches[before:]]  # type: ignore[attr-defined]
    assert second.state is RunState.SUCCESS
    assert rerun == ["b", "c"]
    tis = {ti.task_id: ti for ti in await list_task_instances(db_pool, run.id)}
    assert (tis["a"].try_number, tis["b"].try_number, tis["d"].try_number) == (1, 2, 1)


async def test_paused_dag_starts_nothing_until_unpaused(db_pool: Pool, database_url: str) -> None:
    dag_uuid = await register(db_pool, dag_json("paused", [python_task("x")]), paused=True)
    async with running_scheduler(db_pool, database_url) as scheduler:
        run = await trigger_dag_run(db_pool, dag_uuid)
        await asyncio.sleep(0.8)
        assert scheduler.executor.launches == []  # type: ignore[attr-defined]
        await set_dag_paused(db_pool, await get_default_tenant_id(db_pool), "paused", False)
        done = await wait_for_run(db_pool, run.id)
    assert done.state is RunState.SUCCESS


async def test_catchup_creates_every_missed_daily_run(db_pool: Pool, database_url: str) -> None:
    start = (datetime.now(UTC) - timedelta(days=3)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    data = dag_json(
        "daily", [python_task("x")], schedule="@daily", start_date=start.isoformat(), catchup=True
    )
    await register(db_pool, data)
    async with running_scheduler(db_pool, database_url):
        await wait_until(lambda: _scheduled_runs_done(db_pool, "daily", 4), timeout=20)
    async with db_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT run_id, logical_date, state FROM dag_runs ORDER BY logical_date"
        )
        rows = await cur.fetchall()
    assert [r[1] for r in rows] == [start + timedelta(days=i) for i in range(4)]
    assert all(r[0] == f"scheduled__{r[1].isoformat()}" and r[2] == "success" for r in rows)


async def _scheduled_runs_done(pool: Pool, dag_id: str, expected: int) -> bool:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid "
            "WHERE d.dag_id = %s AND r.run_type = 'scheduled' AND r.state = 'success'",
            (dag_id,),
        )
        row = await cur.fetchone()
    return row is not None and row[0] >= expected


async def test_lost_agent_is_reaped_and_retried(db_pool: Pool, database_url: str) -> None:
    tasks = [python_task("hangs", retries=1, retry_delay_seconds=0)]
    dag_uuid = await register(db_pool, dag_json("lost_agent", tasks))

    def script(launch: TaskLaunch) -> Step:
        return Step(seconds=30) if launch.try_number == 1 else Step()

    async with running_scheduler(
        db_pool, database_url, script, heartbeat_timeout_seconds=0.5
    ) as scheduler:
        scheduler.executor.heartbeat_seconds = 60  # type: ignore[attr-defined]  # a silent agent
        run = await trigger_dag_run(db_pool, dag_uuid)
        done = await wait_for_run(db_pool, run.id, timeout=20)
    assert done.state is RunState.SUCCESS
    [ti] = await list_task_instances(db_pool, run.id)
    assert ti.try_number == 2
    [first] = await list_task_instance_tries(db_pool, ti.id)
    assert first.state is TaskState.UP_FOR_RETRY


async def test_mark_run_failed_settles_its_tasks(db_pool: Pool, database_url: str) -> None:
    dag_uuid = await register(
        db_pool, dag_json("markable", [python_task("a"), python_task("b", "a")])
    )
    version = await get_latest_dag_version(db_pool, dag_uuid)
    assert version is not None
    run, _ = await create_dag_run(
        db_pool,
        dag_uuid=dag_uuid,
        run_id="manual__x",
        dag_version_id=version.id,
        run_type=RunType.MANUAL,
        state=RunState.RUNNING,
    )
    from leoflow.store.task_instances import create_task_instances

    await create_task_instances(db_pool, run.id, ["a", "b"])
    marked = await mark_dag_run(db_pool, run.id, RunState.FAILED)
    assert marked is not None and marked.state is RunState.FAILED
    states = {ti.task_id: ti.state for ti in await list_task_instances(db_pool, run.id)}
    assert states == {"a": TaskState.SKIPPED, "b": TaskState.SKIPPED}


async def test_max_active_tasks_caps_concurrency(db_pool: Pool, database_url: str) -> None:
    tasks = [python_task(f"p{i}") for i in range(6)]
    dag_uuid = await register(db_pool, dag_json("capped", tasks, max_active_tasks=2))
    seen: list[int] = []

    async with running_scheduler(db_pool, database_url, lambda _: Step(seconds=0.15)) as sched:

        async def observe(_: TaskLaunch) -> None:
            async with db_pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM task_instances WHERE state IN ('queued', 'running')"
                )
                row = await cur.fetchone()
            seen.append(row[0] if row else 0)

        sched.executor.on_submit = observe  # type: ignore[attr-defined]
        run = await trigger_dag_run(db_pool, dag_uuid)
        done = await wait_for_run(db_pool, run.id)
    assert done.state is RunState.SUCCESS
    assert len(seen) == 6
    assert max(seen) <= 2


async def test_lost_dispatch_is_redispatched_once_then_failed(
    db_pool: Pool, database_url: str
) -> None:
    dag_uuid = await register(
        db_pool, dag_json("lost_dispatch", [python_task("x", retries=1, retry_delay_seconds=0)])
    )

    def script(launch: TaskLaunch) -> Step:
        return Step(vanish=True) if launch.try_number == 1 else Step()

    async with running_scheduler(
        db_pool, database_url, script, dispatch_lost_timeout_seconds=0.3
    ) as scheduler:
        run = await trigger_dag_run(db_pool, dag_uuid)
        done = await wait_for_run(db_pool, run.id, timeout=20)
        launches = [(r.launch.task_id, r.launch.try_number) for r in scheduler.executor.launches]  # type: ignore[attr-defined]
    assert done.state is RunState.SUCCESS
    assert launches == [("x", 1), ("x", 1), ("x", 2)]  # dispatched, re-dispatched, retried


async def test_backpressure_leaves_tasks_scheduled_until_the_pool_has_room(
    db_pool: Pool, database_url: str
) -> None:
    tasks = [python_task(f"w{i}") for i in range(10)]
    dag_uuid = await register(db_pool, dag_json("wide", tasks))
    async with running_scheduler(
        db_pool, database_url, dispatch_queue_size=1, dispatch_workers=1
    ) as scheduler:
        run = await trigger_dag_run(db_pool, dag_uuid)
        done = await wait_for_run(db_pool, run.id)
        launched = len(scheduler.executor.launches)  # type: ignore[attr-defined]
    assert done.state is RunState.SUCCESS
    assert launched == 10


async def test_clear_rebinds_the_run_to_the_latest_version(
    db_pool: Pool, database_url: str
) -> None:
    dag_uuid = await register(
        db_pool, dag_json("evolving", [python_task("a"), python_task("old", "a")])
    )
    async with running_scheduler(db_pool, database_url) as scheduler:
        run = await trigger_dag_run(db_pool, dag_uuid)
        await wait_for_run(db_pool, run.id)
        await register(db_pool, dag_json("evolving", [python_task("a"), python_task("new", "a")]))
        await clear_task_instances(db_pool, scheduler.catalog, run.id, ClearRequest())
        done = await wait_for_run(db_pool, run.id)
    assert done.state is RunState.SUCCESS
    states = {ti.task_id: ti.state for ti in await list_task_instances(db_pool, run.id)}
    assert states == {"a": TaskState.SUCCESS, "old": TaskState.REMOVED, "new": TaskState.SUCCESS}


async def test_a_cleared_task_gets_all_its_retries_again(db_pool: Pool, database_url: str) -> None:
    """As in Airflow, clearing renews the retries: tries 1-2 use them up, the clear starts try
    3 with max_tries 3, so try 3 failing is retried and try 4 is the one that succeeds."""
    tasks = [python_task("flaky", retries=1, retry_delay_seconds=0)]
    dag_uuid = await register(db_pool, dag_json("renewed_retries", tasks))

    def script(launch: TaskLaunch) -> Step:
        return Step(TaskState.SUCCESS if launch.try_number >= 4 else TaskState.FAILED)

    async with running_scheduler(db_pool, database_url, script) as scheduler:
        run = await trigger_dag_run(db_pool, dag_uuid)
        first = await wait_for_run(db_pool, run.id)
        assert first.state is RunState.FAILED
        (before,) = await list_task_instances(db_pool, run.id)
        assert (before.try_number, before.max_tries) == (2, 1)
        cleared = await clear_task_instances(
            db_pool, scheduler.catalog, run.id, ClearRequest(task_ids=frozenset({"flaky"}))
        )
        assert [(ti.try_number, ti.max_tries) for ti in cleared.cleared] == [(3, 3)]
        second = await wait_for_run(db_pool, run.id)
    assert second.state is RunState.SUCCESS
    (after,) = await list_task_instances(db_pool, run.id)
    assert (after.try_number, after.max_tries, after.state) == (4, 3, TaskState.SUCCESS)
    tries = await list_task_instance_tries(db_pool, after.id)
    assert [t.state for t in tries][:3] == [
        TaskState.UP_FOR_RETRY,
        TaskState.FAILED,
        TaskState.UP_FOR_RETRY,
    ]
