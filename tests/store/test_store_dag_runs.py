"""DAG runs: idempotent creation and compare-and-set transitions."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from harness.factories import make_version
from leoflow.states import RunState, can_transition_run
from leoflow.store.dag_runs import (
    RunType,
    create_dag_run,
    find_dag_run,
    get_dag_run,
    transition_dag_run,
)
from leoflow.store.pool import Pool


async def test_create_dag_run_is_idempotent_on_dag_and_run_id(db_pool: Pool) -> None:
    _, version = await make_version(db_pool)
    when = datetime(2025, 1, 1, tzinfo=UTC)
    first, created = await create_dag_run(
        db_pool,
        dag_uuid=version.dag_uuid,
        run_id="scheduled__2025-01-01T00:00:00+00:00",
        dag_version_id=version.id,
        run_type=RunType.SCHEDULED,
        logical_date=when,
        data_interval_start=when,
        data_interval_end=when,
        conf={"x": 1},
    )
    again, created_again = await create_dag_run(
        db_pool,
        dag_uuid=version.dag_uuid,
        run_id="scheduled__2025-01-01T00:00:00+00:00",
        dag_version_id=version.id,
        run_type=RunType.MANUAL,
        conf={"different": True},
    )
    assert created and not created_again
    assert again == first, "the existing row is returned unchanged"
    assert first.state is RunState.QUEUED and first.queued_at is not None
    assert first.run_type is RunType.SCHEDULED and first.conf == {"x": 1}
    assert await get_dag_run(db_pool, first.id) == first
    assert await find_dag_run(db_pool, version.dag_uuid, first.run_id) == first


async def test_transitions_set_dates_and_refuse_illegal_moves(db_pool: Pool) -> None:
    _, version = await make_version(db_pool)
    run, _ = await create_dag_run(
        db_pool,
        dag_uuid=version.dag_uuid,
        run_id="manual__1",
        dag_version_id=version.id,
        run_type=RunType.MANUAL,
    )
    assert await transition_dag_run(db_pool, run.id, RunState.SUCCESS) is None, (
        "queued → success is an operator move only"
    )
    running = await transition_dag_run(db_pool, run.id, RunState.RUNNING)
    assert running is not None and running.start_date is not None and running.end_date is None

    assert await transition_dag_run(db_pool, run.id, RunState.RUNNING) is None
    done = await transition_dag_run(db_pool, run.id, RunState.SUCCESS)
    assert done is not None and done.end_date is not None and done.start_date == running.start_date
    assert await transition_dag_run(db_pool, run.id, RunState.RUNNING) is None

    cleared = await transition_dag_run(db_pool, run.id, RunState.QUEUED, by_operator=True)
    assert cleared is not None
    assert cleared.start_date is None and cleared.end_date is None
    assert cleared.queued_at is not None and done.queued_at is not None
    assert cleared.queued_at >= done.queued_at


@pytest.mark.parametrize("by_operator", [False, True])
async def test_run_guard_matches_the_state_machine(db_pool: Pool, by_operator: bool) -> None:
    _, version = await make_version(db_pool)
    run, _ = await create_dag_run(
        db_pool,
        dag_uuid=version.dag_uuid,
        run_id="manual__matrix",
        dag_version_id=version.id,
        run_type=RunType.MANUAL,
    )
    for source in RunState:
        for target in RunState:
            async with db_pool.connection() as conn:
                await conn.execute(
                    "UPDATE dag_runs SET state = %s WHERE id = %s", (source.value, run.id)
                )
            applied = await transition_dag_run(db_pool, run.id, target, by_operator=by_operator)
            expected = can_transition_run(source, target, by_operator=by_operator)
            assert (applied is not None) == expected, (source, target, by_operator)


async def test_unknown_run_is_refused(db_pool: Pool) -> None:
    assert await transition_dag_run(db_pool, uuid4(), RunState.RUNNING) is None
