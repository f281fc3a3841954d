"""The DAG page's views: grid (runs by tasks), graph, Gantt chart and calendar.

The graph comes from the compiled ``dag.json`` of a DAG version (tasks and their
``depends_on``), never from user code. Grid rows follow the latest version; tasks that only
older runs had are appended, so a removed task's history stays visible.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from leoflow.api.common.lookups import dag_not_found, require_dag, run_not_found
from leoflow.api.common.parameters import OrderTerms, Page, datetime_range, pagination, sort_param
from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.dag_run import DagRunState, DagRunType
from leoflow.api.datamodels.ui.grid import (
    CalendarTimeRangeCollectionResponse,
    CalendarTimeRangeResponse,
    EdgeResponse,
    GanttResponse,
    GanttTaskInstance,
    GridNodeResponse,
    GridRunsResponse,
    GridTISummaries,
    LightGridTaskInstanceSummary,
    NodeResponse,
    StructureDataResponse,
)
from leoflow.api.security import Permission, Principal, require
from leoflow.api.translate import operator_name, ti_state, version_response
from leoflow.store import run_queries, ui_queries
from leoflow.store._filters import Range
from leoflow.store.pool import Pool
from leoflow.store.run_queries import RunFilter, RunRow
from leoflow.store.ui_queries import TiCell, VersionSpec

router = APIRouter()

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
PoolDep = Annotated[Pool, Depends(get_pool)]

_RUN_SORTABLE = ("id", "run_after", "logical_date", "start_date", "end_date")
NDJSON = "application/x-ndjson"


# --- the task graph of a version ---------------------------------------------------------


def spec_tasks(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The tasks of a ``dag.json``, in topological order (declaration order among peers)."""
    tasks = [t for t in spec.get("tasks") or [] if isinstance(t, dict) and "task_id" in t]
    by_id = {str(t["task_id"]): t for t in tasks}
    placed: dict[str, None] = {}
    remaining = list(by_id)
    while remaining:
        progressed = False
        for task_id in list(remaining):
            upstream = [str(u) for u in by_id[task_id].get("depends_on") or [] if u in by_id]
            if all(u in placed for u in upstream):
                placed[task_id] = None
                remaining.remove(task_id)
                progressed = True
        if not progressed:  # a cycle cannot be compiled; keep whatever is left as declared
            placed.update(dict.fromkeys(remaining))
            break
    return [by_id[task_id] for task_id in placed]


def _edges(tasks: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    known = {str(t["task_id"]) for t in tasks}
    return [
        (str(upstream), str(task["task_id"]))
        for task in tasks
        for upstream in task.get("depends_on") or []
        if str(upstream) in known
    ]


def _reachable(start: set[str], step: dict[str, set[str]], depth: int | None) -> set[str]:
    seen = set(start)
    frontier = set(start)
    level = 0
    while frontier and (depth is None or level < depth):
        frontier = {n for node in frontier for n in step.get(node, set())} - seen
        seen |= frontier
        level += 1
    return seen


def select_tasks(
    tasks: Sequence[dict[str, Any]],
    root: str | None,
    include_upstream: bool,
    include_downstream: bool,
    depth: int | None,
) -> list[dict[str, Any]]:
    """The tasks named by ``root`` (a task id), with their upstream and/or downstream tasks
    up to ``depth`` levels; every task when ``root`` is not given."""
    if not root:
        return list(tasks)
    ids = {str(t["task_id"]) for t in tasks}
    if root not in ids:
        return []
    ups: dict[str, set[str]] = {}
    downs: dict[str, set[str]] = {}
    for source, target in _edges(tasks):
        ups.setdefault(target, set()).add(source)
        downs.setdefault(source, set()).add(target)
    keep = {root}
    if include_upstream:
        keep |= _reachable({root}, ups, depth)
    if include_downstream:
        keep |= _reachable({root}, downs, depth)
    return [t for t in tasks if str(t["task_id"]) in keep]


def structure(tasks: Sequence[dict[str, Any]]) -> StructureDataResponse:
    """The graph of ``tasks``: one node per task, one edge per dependency among them."""
    nodes = [
        NodeResponse(
            id=str(t["task_id"]),
            label=str(t["task_id"]),
            type="task",
            children=None,
            is_mapped=False,
            tooltip=None,
            setup_teardown_type=None,
            operator=operator_name(t.get("type")),
        )
        for t in tasks
    ]
    edges = [EdgeResponse(source_id=s, target_id=t) for s, t in _edges(tasks)]
    return StructureDataResponse(edges=edges, nodes=nodes)


def merged_tasks(specs: Sequence[VersionSpec]) -> list[dict[str, Any]]:
    """Tasks of the first spec, then tasks only older specs have (newest version first)."""
    seen: dict[str, dict[str, Any]] = {}
    for spec in specs:
        for task in spec_tasks(spec.spec):
            seen.setdefault(str(task["task_id"]), task)
    return list(seen.values())


async def _latest_spec(pool: Pool, principal: Principal, dag_id: str) -> VersionSpec | None:
    found = await ui_queries.version_specs(pool, principal.tenant_id, dag_id)
    return found[0] if found else None


@router.get("/structure/structure_data")
async def structure_data(
    *,
    principal: Read,
    pool: PoolDep,
    dag_id: str,
    include_upstream: bool = False,
    include_downstream: bool = False,
    depth: int | None = None,
    root: str | None = None,
    external_dependencies: bool = False,
    version_number: int | None = None,
) -> StructureDataResponse:
    """The graph view: tasks of a DAG version and their dependencies (no cross-DAG edges:
    Leoflow DAGs do not depend on each other)."""
    await require_dag(pool, principal, dag_id)
    numbers = None if version_number is None else [version_number]
    specs = await ui_queries.version_specs(pool, principal.tenant_id, dag_id, numbers)
    if not specs:
        if version_number is not None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"Dag with id {dag_id} and version number {version_number} was not found",
            )
        return StructureDataResponse(edges=[], nodes=[])
    tasks = select_tasks(
        spec_tasks(specs[0].spec), root, include_upstream, include_downstream, depth
    )
    return structure(tasks)


# --- grid ----------------------------------------------------------------------------------


def _run_filter(
    dag_id: str,
    run_after: Range[datetime],
    run_type: Sequence[str],
    state: Sequence[str],
    triggering_user: tuple[str | None, str | None] = (None, None),
) -> RunFilter:
    return RunFilter(
        dag_ids=[dag_id],
        run_after=run_after,
        run_types=run_type,
        states=state,
        triggering_user_pattern=triggering_user[0],
        triggering_user_prefix=triggering_user[1],
    )


async def _grid_run_rows(
    *,
    pool: Pool,
    principal: Principal,
    flt: RunFilter,
    order_by: OrderTerms,
    page: Page,
) -> list[RunRow]:
    rows, _ = await run_queries.list_runs(
        pool, principal.tenant_id, flt, order_by=order_by, limit=page.limit, offset=page.offset
    )
    return rows


RunTypes = Annotated[list[str], Query()]


@router.get("/grid/structure/{dag_id}")
async def get_dag_structure(
    *,
    dag_id: str,
    principal: Read,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(_RUN_SORTABLE, "id"))],
    run_after: Annotated[Range[datetime], Depends(datetime_range("run_after"))],
    include_upstream: bool = False,
    include_downstream: bool = False,
    depth: int | None = None,
    root: str | None = None,
    run_type: RunTypes = [],  # noqa: B006 - FastAPI copies query defaults
    state: RunTypes = [],  # noqa: B006
    triggering_user: str | None = None,
    triggering_user_prefix: str | None = None,
) -> list[GridNodeResponse]:
    """Grid rows: the tasks of the latest version, plus tasks only the shown runs had."""
    await require_dag(pool, principal, dag_id)
    flt = _run_filter(dag_id, run_after, run_type, state, (triggering_user, triggering_user_prefix))
    runs = await _grid_run_rows(
        pool=pool, principal=principal, flt=flt, order_by=order_by, page=page
    )
    latest = await _latest_spec(pool, principal, dag_id)
    older = sorted({r.version_number for r in runs} - {latest.version_number if latest else -1})
    specs = [latest] if latest else []
    if older:
        specs += await ui_queries.version_specs(pool, principal.tenant_id, dag_id, older)
    tasks = select_tasks(merged_tasks(specs), root, include_upstream, include_downstream, depth)
    return [
        GridNodeResponse(
            id=str(t["task_id"]),
            label=str(t["task_id"]),
            children=None,
            is_mapped=False,
            setup_teardown_type=None,
            doc_md=t.get("doc_md"),
        )
        for t in tasks
    ]


def _duration(start: datetime | None, end: datetime | None) -> float:
    if start is None:
        return 0.0
    return ((end or datetime.now(UTC)) - start).total_seconds()


@router.get("/grid/runs/{dag_id}")
async def get_grid_runs(
    *,
    dag_id: str,
    principal: Read,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(_RUN_SORTABLE, "id"))],
    run_after: Annotated[Range[datetime], Depends(datetime_range("run_after"))],
    run_type: RunTypes = [],  # noqa: B006 - FastAPI copies query defaults
    state: RunTypes = [],  # noqa: B006
    triggering_user: str | None = None,
    triggering_user_prefix: str | None = None,
) -> list[GridRunsResponse]:
    """Grid columns: the DAG's runs, filtered and ordered as asked."""
    await require_dag(pool, principal, dag_id)
    flt = _run_filter(dag_id, run_after, run_type, state, (triggering_user, triggering_user_prefix))
    runs = await _grid_run_rows(
        pool=pool, principal=principal, flt=flt, order_by=order_by, page=page
    )
    return [
        GridRunsResponse(
            dag_id=r.dag_id,
            run_id=r.run_id,
            queued_at=r.queued_at,
            start_date=r.start_date,
            end_date=r.end_date,
            run_after=r.run_after,
            state=DagRunState(r.state),
            run_type=DagRunType(r.run_type),
            dag_versions=[
                version_response(r.dag_id, r.dag_version_id, r.version_number, r.version_created_at)
            ],
            has_missed_deadline=False,
            has_note=bool(r.note),
            duration=_duration(r.start_date, r.end_date),
        )
        for r in runs
    ]


def _summary(task_id: str, cells: Sequence[TiCell], version: int) -> LightGridTaskInstanceSummary:
    if not cells:
        return LightGridTaskInstanceSummary(
            task_id=task_id,
            task_display_name=task_id,
            state=None,
            child_states=None,
            min_start_date=None,
            max_end_date=None,
            dag_version_number=version,
            has_note=False,
        )
    starts = [c.start_date for c in cells if c.start_date is not None]
    ends = [c.end_date for c in cells if c.end_date is not None]
    mapped = len(cells) > 1 or cells[0].map_index >= 0
    child_states: dict[str, int] | None = None
    if mapped:
        child_states = {}
        for cell in cells:
            child_states[cell.state] = child_states.get(cell.state, 0) + 1
    return LightGridTaskInstanceSummary(
        task_id=task_id,
        task_display_name=task_id,
        state=ti_state(cells[0].state) if not mapped else ti_state(_worst(cells)),
        child_states=child_states,
        min_start_date=min(starts) if starts else None,
        max_end_date=max(ends) if ends else None,
        dag_version_number=cells[0].version_number,
        has_note=any(c.has_note for c in cells),
    )


_PRIORITY = (
    "failed",
    "upstream_failed",
    "up_for_retry",
    "running",
    "deferred",
    "queued",
    "scheduled",
    "none",
    "removed",
    "skipped",
    "success",
)


def _worst(cells: Iterable[TiCell]) -> str:
    states = {c.state for c in cells}
    return next((s for s in _PRIORITY if s in states), "none")


def summaries(
    runs: Sequence[RunRow], specs: dict[int, list[dict[str, Any]]], cells: Sequence[TiCell]
) -> list[GridTISummaries]:
    """One grid column per run: a cell for every task of the run's version (tasks that
    have no task instance yet have no state) and for any other task that ran."""
    by_run: dict[str, dict[str, list[TiCell]]] = {}
    for cell in cells:
        by_run.setdefault(cell.run_id, {}).setdefault(cell.task_id, []).append(cell)
    result = []
    for run in runs:
        run_cells = by_run.get(run.run_id, {})
        task_ids = [str(t["task_id"]) for t in specs.get(run.version_number, [])]
        task_ids += [t for t in run_cells if t not in task_ids]
        result.append(
            GridTISummaries(
                run_id=run.run_id,
                dag_id=run.dag_id,
                task_instances=[
                    _summary(t, run_cells.get(t, []), run.version_number) for t in task_ids
                ],
            )
        )
    return result


@router.get(
    "/grid/ti_summaries/{dag_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {"schema": {"type": "string"}}}}},
)
async def get_grid_ti_summaries_stream(
    request: Request,
    dag_id: str,
    principal: Read,
    pool: PoolDep,
    run_ids: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Grid cells as NDJSON, one line per run, in the order of ``run_ids``.

    The web app re-asks every few seconds while a run is active; the answer carries an ETag
    so an unchanged grid costs a 304 and no body.
    """
    await require_dag(pool, principal, dag_id)
    wanted = list(dict.fromkeys(run_ids or []))
    found, _ = await run_queries.list_runs(
        pool, principal.tenant_id, RunFilter(dag_ids=[dag_id], run_ids=wanted), limit=len(wanted)
    )
    order = {run_id: i for i, run_id in enumerate(wanted)}
    runs = sorted(found, key=lambda r: order[r.run_id])
    versions = sorted({r.version_number for r in runs})
    specs = {
        v.version_number: spec_tasks(v.spec)
        for v in await ui_queries.version_specs(pool, principal.tenant_id, dag_id, versions)
    }
    cells = await ui_queries.grid_cells(pool, principal.tenant_id, dag_id, [r.run_id for r in runs])
    lines = [s.model_dump_json() + "\n" for s in summaries(runs, specs, cells)]
    etag = '"' + hashlib.sha256("".join(lines).encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)

    def stream() -> Iterator[str]:
        yield from lines

    return StreamingResponse(stream(), media_type=NDJSON, headers=headers)


# --- Gantt and calendar ----------------------------------------------------------------------


@router.get("/gantt/{dag_id}/{run_id}")
async def get_gantt_data(dag_id: str, run_id: str, principal: Read, pool: PoolDep) -> GanttResponse:
    """Every try of every task instance of a run, as bars on a time axis."""
    rows = await ui_queries.gantt_rows(pool, principal.tenant_id, dag_id, run_id)
    if rows is None:
        if not await ui_queries.dag_exists(pool, principal.tenant_id, dag_id):
            raise dag_not_found(dag_id)
        raise run_not_found(dag_id, run_id)
    return GanttResponse(
        dag_id=dag_id,
        run_id=run_id,
        task_instances=[
            GanttTaskInstance(
                task_id=row.task_id,
                task_display_name=row.task_id,
                try_number=row.try_number,
                state=ti_state(row.state),
                scheduled_dttm=None,
                queued_dttm=row.queued_at,
                start_date=row.start_date,
                end_date=row.end_date,
                is_group=False,
                is_mapped=row.map_index >= 0,
            )
            for row in rows
        ],
    )


@router.get("/calendar/{dag_id}")
async def get_calendar(
    *,
    dag_id: str,
    principal: Read,
    pool: PoolDep,
    logical_date: Annotated[Range[datetime], Depends(datetime_range("logical_date"))],
    partition_date: Annotated[Range[datetime], Depends(datetime_range("partition_date"))],
    granularity: Literal["hourly", "daily"] = "daily",
) -> CalendarTimeRangeCollectionResponse:
    """Runs per hour or day and state (partitions do not exist in Leoflow)."""
    await require_dag(pool, principal, dag_id)
    if not partition_date.is_empty():
        return CalendarTimeRangeCollectionResponse(total_entries=0, dag_runs=[])
    cells = await ui_queries.calendar_cells(
        pool, principal.tenant_id, dag_id, granularity, logical_date
    )
    entries = [CalendarTimeRangeResponse(date=c.date, state=c.state, count=c.count) for c in cells]
    return CalendarTimeRangeCollectionResponse(total_entries=len(entries), dag_runs=entries)
