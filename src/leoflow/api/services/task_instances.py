"""Operator actions on task instances as Airflow's API shapes them: clearing across runs and
marking with relatives.

Airflow's ``clearTaskInstances`` and ``PATCH …/taskInstances/{task}`` act on a *selection*
(tasks plus their upstream/downstream, in one run or in every run before/after it, only failed
or only running ones). This module computes that selection from Leoflow's rows and specs, then
applies it through :mod:`leoflow.scheduler.operations`, one run at a time, so every write stays
a guarded compare-and-set that wakes the scheduler.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.operations import ClearRequest, clear_task_instances, mark_task_instance
from leoflow.spec import DagSpec
from leoflow.states import TaskState
from leoflow.store import run_queries, ti_queries
from leoflow.store.pool import Pool
from leoflow.store.ti_queries import TiFilter, TiRow

FAILED_STATES = frozenset({"failed", "upstream_failed"})
RUNNING_STATES = frozenset({"running"})


class SelectionError(ValueError):
    """The request cannot select task instances (e.g. past/future of a run without a date)."""


@dataclass(frozen=True)
class RunScope:
    """Which runs of a DAG an action covers: one run, or runs within logical-date bounds."""

    dag_uuid: UUID
    run_uuid: UUID | None = None
    logical_date: datetime | None = None
    include_past: bool = False
    include_future: bool = False
    start_date: datetime | None = None
    end_date: datetime | None = None


async def runs_in_scope(pool: Pool, scope: RunScope) -> list[UUID]:
    """The runs ``scope`` covers, oldest logical date first."""
    if scope.run_uuid is not None and not (scope.include_past or scope.include_future):
        return [scope.run_uuid]
    if scope.run_uuid is not None:
        if scope.logical_date is None:
            raise SelectionError(
                "Cannot use include_past or include_future with no logical_date(e.g. manually "
                "or asset-triggered)."
            )
        start = None if scope.include_past else scope.logical_date
        end = None if scope.include_future else scope.logical_date
        return await run_queries.runs_by_logical_date(pool, scope.dag_uuid, start=start, end=end)
    start = None if scope.include_past else scope.start_date
    end = None if scope.include_future else scope.end_date
    return await run_queries.runs_by_logical_date(pool, scope.dag_uuid, start=start, end=end)


def relatives(
    spec: DagSpec, task_ids: Iterable[str], *, upstream: bool, downstream: bool
) -> set[str]:
    """``task_ids`` plus, transitively, their upstream and/or downstream tasks in ``spec``."""
    known = set(spec.task_ids)
    selected = {tid for tid in task_ids if tid in known}
    frontier = list(selected)
    while frontier:
        tid = frontier.pop()
        neighbours: set[str] = set()
        if upstream:
            neighbours |= set(spec.upstream_of(tid))
        if downstream:
            neighbours |= set(spec.downstream_of(tid))
        for other in neighbours - selected:
            selected.add(other)
            frontier.append(other)
    return selected


@dataclass
class ClearSelection:
    """Task instances to clear, grouped by run."""

    by_run: dict[UUID, list[TiRow]] = field(default_factory=dict)

    @property
    def task_instances(self) -> list[TiRow]:
        """Every selected task instance, run by run."""
        return [ti for tis in self.by_run.values() for ti in tis]


@dataclass(frozen=True)
class ClearOptions:
    """The selection part of Airflow's ``ClearTaskInstancesBody``."""

    task_ids: frozenset[str] | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    only_failed: bool = True
    only_running: bool = False


async def select_for_clear(
    pool: Pool,
    catalog: DagCatalog,
    tenant_id: UUID,
    run_uuids: Iterable[UUID],
    options: ClearOptions,
) -> ClearSelection:
    """What a clear would reset, computed per run with the scheduler's own dry run."""
    selection = ClearSelection()
    for run_uuid in run_uuids:
        dry = await clear_task_instances(
            pool,
            catalog,
            run_uuid,
            ClearRequest(
                task_ids=options.task_ids,
                include_upstream=options.include_upstream,
                include_downstream=options.include_downstream,
                dry_run=True,
            ),
        )
        ids = [ti.id for ti in dry.cleared]
        rows = await ti_queries.get_task_instances_by_id(pool, tenant_id, ids)
        if options.only_failed:
            rows = [r for r in rows if r.state in FAILED_STATES]
        if options.only_running:
            rows = [r for r in rows if r.state in RUNNING_STATES]
        if rows:
            selection.by_run[run_uuid] = rows
    return selection


async def apply_clear(pool: Pool, catalog: DagCatalog, selection: ClearSelection) -> list[UUID]:
    """Clear exactly the selected task instances; returns their ids."""
    cleared: list[UUID] = []
    for run_uuid, rows in selection.by_run.items():
        await clear_task_instances(
            pool, catalog, run_uuid, ClearRequest(task_ids=frozenset(r.task_id for r in rows))
        )
        cleared.extend(r.id for r in rows)
    return cleared


async def select_for_mark(
    pool: Pool,
    tenant_id: UUID,
    spec: DagSpec,
    ti: TiRow,
    scope: RunScope,
    *,
    state: str,
    upstream: bool,
    downstream: bool,
) -> list[TiRow]:
    """Task instances a mark would change: the task and its relatives, in the scoped runs,
    that are not in ``state`` already."""
    return await select_tasks_for_mark(
        pool,
        tenant_id,
        spec,
        ti.dag_id,
        [ti.task_id],
        scope,
        state=state,
        upstream=upstream,
        downstream=downstream,
    )


async def select_tasks_for_mark(  # noqa: PLR0917 - mirrors select_for_mark's selection
    pool: Pool,
    tenant_id: UUID,
    spec: DagSpec,
    dag_id: str,
    seeds: Iterable[str],
    scope: RunScope,
    *,
    state: str,
    upstream: bool,
    downstream: bool,
) -> list[TiRow]:
    """Task instances a mark of the tasks ``seeds`` (a TaskGroup's members, say) would change:
    those tasks and their relatives, in the scoped runs, not in ``state`` already."""
    seeds = list(seeds)
    task_ids = relatives(spec, seeds, upstream=upstream, downstream=downstream)
    task_ids.update(seeds)
    run_uuids = await runs_in_scope(pool, scope)
    runs = [await run_queries.get_run_by_uuid(pool, tenant_id, uuid) for uuid in run_uuids]
    run_ids = [r.run_id for r in runs if r is not None]
    rows, _ = await ti_queries.list_task_instances(
        pool,
        tenant_id,
        TiFilter(dag_ids=[dag_id], run_ids=run_ids, task_ids=sorted(task_ids)),
        order_by=(("run_after", False),),
        limit=None,
    )
    return [r for r in rows if r.state != state]


async def apply_mark(pool: Pool, rows: Iterable[TiRow], state: str) -> list[UUID]:
    """Mark each task instance's current try; returns the ids whose state changed."""
    changed: list[UUID] = []
    for row in rows:
        result = await mark_task_instance(pool, row.id, TaskState(state))
        if bool(result):
            changed.append(row.id)
    return changed
