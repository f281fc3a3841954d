"""Operator actions on runs and task instances: trigger, clear, mark.

These are what the API (and the CLI through it) calls. Each is a set of guarded writes and a
wake-up of the scheduler through ``NOTIFY`` (which reaches the leader in this process or in
another replica alike); none of them dispatches anything itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from leoflow.scheduler.dag_catalog import CompiledDag, DagCatalog
from leoflow.scheduler.planner import DagGraph
from leoflow.states import TASK_ACTIVE_STATES, RunState, TaskState
from leoflow.store.dag_runs import (
    DagRun,
    RunType,
    create_dag_run,
    get_dag_run,
    transition_dag_run,
)
from leoflow.store.dag_versions import get_latest_dag_version
from leoflow.store.pool import Database, acquire
from leoflow.store.task_instances import (
    TaskInstance,
    TransitionResult,
    get_task_instance,
    list_task_instances,
    start_next_try,
    transition_task_instance,
)
from leoflow.store.wakeups import SCHEDULER_CHANNEL, notify

FULL_PASS = "*"


class OperationError(ValueError):
    """An operator action cannot be done; the message says why and what to do instead."""


def manual_run_id(when: datetime) -> str:
    """Airflow's manual run id: ``manual__<ISO timestamp>``."""
    return f"manual__{when.astimezone(UTC).isoformat()}"


async def trigger_dag_run(
    db: Database,
    dag_uuid: UUID,
    *,
    conf: Mapping[str, Any] | None = None,
    logical_date: datetime | None = None,
    run_id: str | None = None,
    triggered_by: str = "rest_api",
    triggering_user_name: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> DagRun:
    """Create a manual run bound to the DAG's latest version (queued; the scheduler starts it).

    Idempotent on ``run_id``: triggering the same run id twice returns the existing run.
    As in Airflow 3, a manual run's data interval is its logical date (when one is given).
    ``triggering_user_name`` records who asked for the run (Airflow shows it on the run).
    """
    version = await get_latest_dag_version(db, dag_uuid)
    if version is None:
        raise OperationError("this DAG has no registered version: push its dag.json first")
    now = now or datetime.now(UTC)
    run, _ = await create_dag_run(
        db,
        dag_uuid=dag_uuid,
        run_id=run_id or manual_run_id(logical_date or now),
        dag_version_id=version.id,
        run_type=RunType.MANUAL,
        logical_date=logical_date,
        data_interval_start=logical_date,
        data_interval_end=logical_date,
        run_after=now,
        conf=conf,
        triggered_by=triggered_by,
        triggering_user_name=triggering_user_name,
        note=note,
    )
    await notify(db, SCHEDULER_CHANNEL, FULL_PASS)
    return run


@dataclass(frozen=True)
class ClearRequest:
    """Which task instances of one run to clear (Airflow's ``clearTaskInstances`` options)."""

    task_ids: frozenset[str] | None = None
    """``None`` clears every task of the run."""
    include_upstream: bool = False
    include_downstream: bool = False
    only_failed: bool = False
    dry_run: bool = False


@dataclass
class ClearResult:
    """The task instances cleared (or that would be, in a dry run)."""

    cleared: list[TaskInstance] = field(default_factory=list)
    run: DagRun | None = None


def _closure(graph: DagGraph, seeds: Iterable[str], *, up: bool, down: bool) -> set[str]:
    downstream: dict[str, set[str]] = {tid: set() for tid in graph.nodes}
    for node in graph.nodes.values():
        for parent in node.upstream:
            downstream.setdefault(parent, set()).add(node.task_id)
    selected = set(seeds)
    frontier = list(selected)
    while frontier:
        tid = frontier.pop()
        neighbours: set[str] = set()
        if up and tid in graph.nodes:
            neighbours |= set(graph.nodes[tid].upstream)
        if down:
            neighbours |= downstream.get(tid, set())
        for other in neighbours - selected:
            selected.add(other)
            frontier.append(other)
    return selected


_FAILED_STATES = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})


async def _renew_retries(
    conn: AsyncConnection[Any], compiled: CompiledDag, ti: TaskInstance
) -> TaskInstance:
    """Give a cleared task all its retries again, as Airflow does: the last allowed try
    becomes the one the clear starts plus the task's retries (``max_tries + 1``)."""
    if ti.task_id not in compiled.tasks:
        return ti  # removed from the DAG: the next pass marks it removed
    max_tries = ti.try_number - 1 + compiled.retry_policy(ti.task_id).retries
    await conn.execute("UPDATE task_instances SET max_tries = %s WHERE id = %s", (max_tries, ti.id))
    return replace(ti, max_tries=max_tries)


async def clear_task_instances(
    db: Database, catalog: DagCatalog, run_uuid: UUID, request: ClearRequest
) -> ClearResult:
    """Reset task instances to ``none`` for a new try and send the run back to ``queued``.

    The run is re-bound to the DAG's current version first, so a cleared run executes the
    latest code; tasks that no longer exist become ``removed`` on the next pass. A task that is
    still active is first marked failed (its agent is told to stop on its next heartbeat).
    """
    run = await get_dag_run(db, run_uuid)
    if run is None:
        raise OperationError(f"DAG run {run_uuid} does not exist")
    latest = await get_latest_dag_version(db, run.dag_uuid)
    version_id = latest.id if latest is not None else run.dag_version_id
    compiled = await catalog.get(version_id)
    tis = await list_task_instances(db, run_uuid)
    seeds = set(request.task_ids) if request.task_ids is not None else {ti.task_id for ti in tis}
    wanted = _closure(
        compiled.graph, seeds, up=request.include_upstream, down=request.include_downstream
    )
    chosen = [
        ti
        for ti in tis
        if ti.task_id in wanted and (not request.only_failed or ti.state in _FAILED_STATES)
    ]
    if request.dry_run:
        return ClearResult(cleared=chosen, run=run)
    cleared: list[TaskInstance] = []
    async with acquire(db) as conn, conn.transaction():
        await conn.execute(
            "UPDATE dag_runs SET dag_version_id = %s WHERE id = %s", (version_id, run_uuid)
        )
        for ti in chosen:
            if ti.state is TaskState.NONE:
                continue
            try_number = ti.try_number
            if ti.state in TASK_ACTIVE_STATES:
                await transition_task_instance(
                    conn, ti.id, TaskState.FAILED, try_number=try_number, by_operator=True
                )
            result = await start_next_try(
                conn, ti.id, try_number, to_state=TaskState.NONE, by_operator=True
            )
            if result.applied and result.task_instance is not None:
                # As Airflow: a cleared task gets all its retries again (the last allowed try
                # is max_tries + 1), counted from the try the clear starts.
                cleared.append(await _renew_retries(conn, compiled, result.task_instance))
        requeued = await transition_dag_run(conn, run_uuid, RunState.QUEUED, by_operator=True)
    await notify(db, SCHEDULER_CHANNEL, FULL_PASS)
    return ClearResult(cleared=cleared, run=requeued or await get_dag_run(db, run_uuid))


async def mark_task_instance(
    db: Database, ti_id: UUID, state: TaskState, *, dry_run: bool = False
) -> TransitionResult | TaskInstance:
    """Mark the current try success, failed or skipped (an operator move, guarded)."""
    if state not in (TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED):
        raise OperationError("a task instance can be marked success, failed or skipped")
    tis_row = await _get_ti(db, ti_id)
    if dry_run:
        return tis_row
    result = await transition_task_instance(
        db, ti_id, state, try_number=tis_row.try_number, by_operator=True
    )
    await notify(db, SCHEDULER_CHANNEL, str(tis_row.run_uuid))
    return result


async def _get_ti(db: Database, ti_id: UUID) -> TaskInstance:
    ti = await get_task_instance(db, ti_id)
    if ti is None:
        raise OperationError(f"task instance {ti_id} does not exist")
    return ti


async def mark_dag_run(db: Database, run_uuid: UUID, state: RunState) -> DagRun | None:
    """Mark a run success or failed, settling its unfinished task instances as Airflow does.

    Success: every unfinished task instance becomes ``success``. Failed: active ones become
    ``failed`` and the rest of the unfinished ones ``skipped``.
    """
    if state not in (RunState.SUCCESS, RunState.FAILED):
        raise OperationError("a DAG run can be marked success or failed")
    async with acquire(db) as conn, conn.transaction():
        for ti in await list_task_instances(conn, run_uuid):
            if ti.state in (
                TaskState.SUCCESS,
                TaskState.FAILED,
                TaskState.SKIPPED,
                TaskState.UPSTREAM_FAILED,
                TaskState.REMOVED,
            ):
                continue
            if state is RunState.SUCCESS:
                target = TaskState.SUCCESS
            else:
                target = TaskState.FAILED if ti.state in TASK_ACTIVE_STATES else TaskState.SKIPPED
            await transition_task_instance(
                conn, ti.id, target, try_number=ti.try_number, by_operator=True
            )
        marked = await transition_dag_run(conn, run_uuid, state, by_operator=True)
    await notify(db, SCHEDULER_CHANNEL, FULL_PASS)
    return marked


async def set_dag_run_state(db: Database, run_uuid: UUID, state: RunState) -> DagRun | None:
    """An operator's state change of a run (``PATCH …/dagRuns/{run}``, one or in bulk).

    ``queued`` sends the run back to the scheduler as it is (nothing is cleared); ``success``
    and ``failed`` settle its unfinished task instances (:func:`mark_dag_run`). ``None`` when
    the run cannot move from its current state.
    """
    if state is RunState.QUEUED:
        queued = await transition_dag_run(db, run_uuid, RunState.QUEUED, by_operator=True)
        await notify(db, SCHEDULER_CHANNEL, FULL_PASS)
        return queued
    return await mark_dag_run(db, run_uuid, state)
