"""Task instances: creation, compare-and-set transitions, tries, heartbeats and races."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import pytest

from harness.factories import make_run
from leoflow.states import TaskState, TransitionRefusal, can_transition_task
from leoflow.store.pool import Pool
from leoflow.store.task_instances import (
    create_task_instances,
    get_task_instance,
    list_task_instance_tries,
    list_task_instances,
    record_heartbeat,
    start_next_try,
    transition_task_instance,
)

T = TaskState


async def _force(db_pool: Pool, ti_id: UUID, state: TaskState, try_number: int = 1) -> None:
    """Test setup only: put a row in a state without going through the guard."""
    async with db_pool.connection() as conn:
        await conn.execute(
            "UPDATE task_instances SET state = %s, try_number = %s WHERE id = %s",
            (state.value, try_number, ti_id),
        )


async def test_create_task_instances_is_idempotent(db_pool: Pool) -> None:
    setup = await make_run(db_pool, tasks=("a", "b"), max_tries={"b": 3})
    a, b = setup.task_instances["a"], setup.task_instances["b"]
    assert (a.state, a.try_number, a.max_tries, a.map_index) == (T.NONE, 1, 0, -1)
    assert b.max_tries == 3

    again = await create_task_instances(db_pool, setup.run.id, ["b", "a", "c", "a"])
    assert [ti.task_id for ti in again] == ["b", "a", "c"]
    assert again[0] == b and again[1] == a
    assert len(await list_task_instances(db_pool, setup.run.id)) == 3


async def test_legal_transition_applies_and_sets_dates(db_pool: Pool) -> None:
    ti = (await make_run(db_pool)).task_instances["extract"]
    scheduled = await transition_task_instance(db_pool, ti.id, T.SCHEDULED, try_number=1)
    assert scheduled and scheduled.refusal is None
    queued = await transition_task_instance(
        db_pool, ti.id, T.QUEUED, try_number=1, queued_by="replica-1", executor="subprocess"
    )
    assert queued.task_instance is not None
    assert queued.task_instance.queued_at is not None
    assert queued.task_instance.queued_by == "replica-1"
    running = await transition_task_instance(
        db_pool, ti.id, T.RUNNING, try_number=1, hostname="host-a", pid=42
    )
    assert running.task_instance is not None
    assert running.task_instance.start_date is not None
    assert running.task_instance.last_heartbeat_at is not None
    assert (running.task_instance.hostname, running.task_instance.pid) == ("host-a", 42)
    done = await transition_task_instance(
        db_pool, ti.id, T.SUCCESS, try_number=1, rendered_fields={"bash_command": "echo 1"}
    )
    row = done.task_instance
    assert row is not None and row.state is T.SUCCESS
    assert row.end_date is not None and row.duration is not None and row.duration >= 0
    assert row.rendered_fields == {"bash_command": "echo 1"}


async def test_stale_try_is_refused(db_pool: Pool) -> None:
    ti = (await make_run(db_pool)).task_instances["extract"]
    await _force(db_pool, ti.id, T.RUNNING, try_number=2)

    late = await transition_task_instance(db_pool, ti.id, T.FAILED, try_number=1)
    assert not late
    assert late.refusal is TransitionRefusal.STALE_TRY
    assert (late.current_state, late.current_try) == (T.RUNNING, 2)
    current = await get_task_instance(db_pool, ti.id)
    assert current is not None and current.state is T.RUNNING


async def test_illegal_transition_is_refused_and_legal_one_applies(db_pool: Pool) -> None:
    ti = (await make_run(db_pool)).task_instances["extract"]
    await _force(db_pool, ti.id, T.SUCCESS)

    backwards = await transition_task_instance(db_pool, ti.id, T.RUNNING, try_number=1)
    assert not backwards
    assert backwards.refusal is TransitionRefusal.ILLEGAL_TRANSITION
    assert backwards.current_state is T.SUCCESS

    cleared = await transition_task_instance(db_pool, ti.id, T.NONE, try_number=1, by_operator=True)
    assert cleared and cleared.task_instance is not None
    assert cleared.task_instance.state is T.NONE


async def test_duplicate_terminal_report_is_recognisable(db_pool: Pool) -> None:
    ti = (await make_run(db_pool)).task_instances["extract"]
    await _force(db_pool, ti.id, T.RUNNING)
    first = await transition_task_instance(db_pool, ti.id, T.SUCCESS, try_number=1)
    retry = await transition_task_instance(db_pool, ti.id, T.SUCCESS, try_number=1)
    assert first and not retry
    assert retry.already_in_target, "an agent retrying its final report can be answered OK"


async def test_unknown_task_instance_and_unknown_fields(db_pool: Pool) -> None:
    result = await transition_task_instance(db_pool, uuid4(), T.SCHEDULED, try_number=1)
    assert result.refusal is TransitionRefusal.NOT_FOUND
    assert result.current_state is None
    ti = (await make_run(db_pool)).task_instances["extract"]
    with pytest.raises(ValueError, match="cannot set \\['state'\\]"):
        await transition_task_instance(db_pool, ti.id, T.SCHEDULED, try_number=1, state="x")


@pytest.mark.parametrize("by_operator", [False, True])
async def test_guard_matches_the_state_machine_for_every_pair(
    db_pool: Pool, by_operator: bool
) -> None:
    ti = (await make_run(db_pool)).task_instances["extract"]
    for source in TaskState:
        for target in TaskState:
            await _force(db_pool, ti.id, source)
            result = await transition_task_instance(
                db_pool, ti.id, target, try_number=1, by_operator=by_operator
            )
            expected = can_transition_task(source, target, by_operator=by_operator)
            assert result.applied == expected, (source, target, by_operator)
            if not expected:
                assert result.refusal is TransitionRefusal.ILLEGAL_TRANSITION
            await _force(db_pool, ti.id, source)
            stale = await transition_task_instance(
                db_pool, ti.id, target, try_number=2, by_operator=by_operator
            )
            assert stale.refusal is TransitionRefusal.STALE_TRY


async def test_start_next_try_archives_the_old_try(db_pool: Pool) -> None:
    ti = (await make_run(db_pool, max_tries={"extract": 2})).task_instances["extract"]
    for state in (T.SCHEDULED, T.QUEUED, T.RUNNING):
        assert await transition_task_instance(
            db_pool, ti.id, state, try_number=1, executor_ref="pod-1"
        )
    retry_at = datetime.now(UTC) + timedelta(seconds=30)
    assert await transition_task_instance(
        db_pool, ti.id, T.UP_FOR_RETRY, try_number=1, next_retry_at=retry_at
    )

    result = await start_next_try(db_pool, ti.id, 1, to_state=T.SCHEDULED)
    assert result and result.task_instance is not None
    new = result.task_instance
    assert (new.state, new.try_number, new.max_tries) == (T.SCHEDULED, 2, 2)
    assert new.start_date is None and new.executor_ref is None and new.next_retry_at is None

    history = await list_task_instance_tries(db_pool, ti.id)
    assert len(history) == 1
    old = history[0]
    assert (old.try_number, old.state, old.executor_ref) == (1, T.UP_FOR_RETRY, "pod-1")
    assert old.start_date is not None and old.next_retry_at == retry_at

    stale = await start_next_try(db_pool, ti.id, 1)
    assert stale.refusal is TransitionRefusal.STALE_TRY
    assert len(await list_task_instance_tries(db_pool, ti.id)) == 1

    late_report = await transition_task_instance(db_pool, ti.id, T.SUCCESS, try_number=1)
    assert late_report.refusal is TransitionRefusal.STALE_TRY


async def test_start_next_try_refuses_an_active_try(db_pool: Pool) -> None:
    ti = (await make_run(db_pool)).task_instances["extract"]
    await _force(db_pool, ti.id, T.RUNNING)
    result = await start_next_try(db_pool, ti.id, 1)
    assert result.refusal is TransitionRefusal.ILLEGAL_TRANSITION
    assert await list_task_instance_tries(db_pool, ti.id) == []

    await _force(db_pool, ti.id, T.SUCCESS)
    cleared = await start_next_try(db_pool, ti.id, 1, to_state=T.NONE, by_operator=True)
    assert cleared.task_instance is not None
    assert (cleared.task_instance.state, cleared.task_instance.try_number) == (T.NONE, 2)
    missing = await start_next_try(db_pool, uuid4(), 1)
    assert missing.refusal is TransitionRefusal.NOT_FOUND


async def test_heartbeat_only_for_the_running_current_try(db_pool: Pool) -> None:
    ti = (await make_run(db_pool)).task_instances["extract"]
    assert not await record_heartbeat(db_pool, ti.id, 1)
    await _force(db_pool, ti.id, T.RUNNING)
    assert await record_heartbeat(db_pool, ti.id, 1)
    assert not await record_heartbeat(db_pool, ti.id, 2)
    row = await get_task_instance(db_pool, ti.id)
    assert row is not None and row.last_heartbeat_at is not None


async def _connect(url: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True)


async def test_racing_writers_exactly_one_applies(database_url: str, db_pool: Pool) -> None:
    """The agent reports success while the heartbeat reaper fails the same try.

    Both moves are legal from ``running``; whichever commits first wins, and the other must
    be re-checked against the committed row (now terminal) and refused — never overwrite it.
    """
    ti = (await make_run(db_pool)).task_instances["extract"]
    await _force(db_pool, ti.id, T.RUNNING)
    agent, reaper = await _connect(database_url), await _connect(database_url)
    try:
        async with agent.transaction():
            won = await transition_task_instance(agent, ti.id, T.SUCCESS, try_number=1)
            assert won
            racing = asyncio.create_task(
                transition_task_instance(reaper, ti.id, T.FAILED, try_number=1)
            )
            await asyncio.sleep(0.3)
            assert not racing.done(), "the reaper must wait for the agent's row lock"
        lost = await racing
    finally:
        await agent.close()
        await reaper.close()
    assert not lost
    assert lost.refusal is TransitionRefusal.ILLEGAL_TRANSITION
    assert lost.current_state is T.SUCCESS
    row = await get_task_instance(db_pool, ti.id)
    assert row is not None and row.state is T.SUCCESS


async def test_concurrent_identical_transitions_apply_once(
    database_url: str, db_pool: Pool
) -> None:
    ti = (await make_run(db_pool)).task_instances["extract"]
    await _force(db_pool, ti.id, T.SCHEDULED)
    conns = [await _connect(database_url) for _ in range(8)]
    try:
        results = await asyncio.gather(
            *(transition_task_instance(c, ti.id, T.QUEUED, try_number=1) for c in conns)
        )
    finally:
        for conn in conns:
            await conn.close()
    assert sum(r.applied for r in results) == 1
    refused = [r for r in results if not r.applied]
    assert all(r.already_in_target for r in refused)


async def test_concurrent_start_next_try_archives_once(database_url: str, db_pool: Pool) -> None:
    ti = (await make_run(db_pool)).task_instances["extract"]
    await _force(db_pool, ti.id, T.UP_FOR_RETRY)
    conns = [await _connect(database_url) for _ in range(6)]
    try:
        results = await asyncio.gather(
            *(start_next_try(c, ti.id, 1, to_state=T.SCHEDULED) for c in conns)
        )
    finally:
        for conn in conns:
            await conn.close()
    assert sum(r.applied for r in results) == 1
    assert all(r.refusal is TransitionRefusal.STALE_TRY for r in results if not r.applied)
    assert len(await list_task_instance_tries(db_pool, ti.id)) == 1
    row = await get_task_instance(db_pool, ti.id)
    assert row is not None and row.try_number == 2
