"""``/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances``: list (``~`` for every DAG or
run), read, tries, mark (with dry run), annotate, delete; and ``POST /dags/{dag_id}/
clearTaskInstances``.

``map_index`` is ``-1`` for every Leoflow task instance (there is no dynamic task mapping yet);
the ``/{task_id}/{map_index}`` forms the Airflow UI uses are served all the same.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from starlette.convertors import Convertor, register_url_convertor

from leoflow.api.common.lookups import (
    compiled_version,
    latest_compiled,
    require_dag,
    require_run,
    require_ti,
)
from leoflow.api.common.parameters import (
    WILDCARD,
    OrderTerms,
    Page,
    body_range,
    datetime_range,
    number_range,
    one_or_all,
    order_terms,
    pagination,
    sort_param,
)
from leoflow.api.common.resources import get_catalog, get_pool
from leoflow.api.datamodels.task_instances import (
    ClearTaskInstancesBody,
    ExtraLinkCollectionResponse,
    PatchTaskInstanceBody,
    TaskDependencyCollectionResponse,
    TaskDependencyResponse,
    TaskInstanceCollectionResponse,
    TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse,
    TaskInstanceResponse,
    TaskInstancesBatchBody,
)
from leoflow.api.routes._audit import record_action
from leoflow.api.security import Permission, Principal, require
from leoflow.api.services.task_instances import (
    ClearOptions,
    RunScope,
    SelectionError,
    apply_clear,
    apply_mark,
    runs_in_scope,
    select_for_clear,
    select_for_mark,
)
from leoflow.api.translate import (
    DEFAULT_POOL,
    DEFAULT_QUEUE,
    TASK_TYPES_BY_OPERATOR,
    task_instance_response,
    try_response,
)
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.trigger_rules import Readiness, UpstreamCounts, evaluate
from leoflow.states import TaskState
from leoflow.store import ti_queries
from leoflow.store._filters import Range, pattern_terms
from leoflow.store.pool import Pool
from leoflow.store.ti_queries import TiFilter, TiRow


class MapIndexConvertor(Convertor[int]):
    """A path segment holding a map index: an integer that may be ``-1``."""

    regex = "-?[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


# Only an integer segment routes to ``/{task_id}/{map_index}``, so ``/{task_id}/tries``,
# ``/{task_id}/logs/…`` and ``/{task_id}/xcomEntries`` reach their own routes.
register_url_convertor("map_index", MapIndexConvertor())

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["Task Instance"])
_TI = "/dagRuns/{dag_run_id}/taskInstances"
_MAPPED = _TI + "/{task_id}/{map_index:map_index}"

_SORTABLE = (
    "id",
    "state",
    "duration",
    "start_date",
    "end_date",
    "map_index",
    "try_number",
    "logical_date",
    "run_after",
    "data_interval_start",
    "data_interval_end",
    "rendered_map_index",
    "operator",
    "task_id",
    "dag_id",
    "run_id",
)
_NO_STATE = frozenset({"none", "no_status", "null"})

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
Edit = Annotated[Principal, Depends(require(Permission.RUNS_EDIT))]
PoolDep = Annotated[Pool, Depends(get_pool)]
CatalogDep = Annotated[DagCatalog, Depends(get_catalog)]
DateRange = Range[datetime]


def _states(values: list[str | None]) -> tuple[list[str], bool]:
    """Requested states, and whether "no status" is among them."""
    named = [v for v in values if v is not None and v.lower() not in _NO_STATE]
    return named, any(v is None or v.lower() in _NO_STATE for v in values)


def _task_types(operators: list[str]) -> list[str]:
    # An operator Leoflow does not have keeps its name, so it matches nothing.
    return [TASK_TYPES_BY_OPERATOR.get(name, name) for name in operators]


def _constant_matches(value: str, exact: list[str] | None, pattern: str | None) -> bool:
    """Whether a value every Leoflow task instance shares (its pool, its queue) passes."""
    if exact and value not in exact:
        return False
    terms = pattern_terms(pattern) if pattern else None
    if terms is None:
        return True
    return any(
        re.fullmatch(
            ".*" + re.escape(term).replace("%", ".*").replace("_", ".") + ".*",
            value,
            re.IGNORECASE,
        )
        for term in terms
    )


def _collection(rows: list[TiRow], total: int | None = None) -> TaskInstanceCollectionResponse:
    return TaskInstanceCollectionResponse(
        task_instances=[task_instance_response(r) for r in rows],
        total_entries=len(rows) if total is None else total,
    )


async def _check_scope(pool: Pool, principal: Principal, dag_id: str, dag_run_id: str) -> None:
    if dag_run_id != WILDCARD:
        if dag_id == WILDCARD:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "dag_id is required when dag_run_id is specified"
            )
        await require_run(pool, principal, dag_id, dag_run_id)
    elif dag_id != WILDCARD:
        await require_dag(pool, principal, dag_id)


@router.get(_TI)
async def get_task_instances(
    *,
    dag_id: str,
    dag_run_id: str,
    principal: Read,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(_SORTABLE, "map_index"))],
    run_after: Annotated[DateRange, Depends(datetime_range("run_after"))],
    logical_date: Annotated[DateRange, Depends(datetime_range("logical_date"))],
    start_date: Annotated[DateRange, Depends(datetime_range("start_date"))],
    end_date: Annotated[DateRange, Depends(datetime_range("end_date"))],
    updated_at: Annotated[DateRange, Depends(datetime_range("updated_at"))],
    duration: Annotated[Range[float], Depends(number_range("duration"))],
    task_id: str | None = None,
    task_display_name_pattern: str | None = None,
    task_display_name_prefix_pattern: str | None = None,
    task_group_id: str | None = None,
    dag_id_pattern: str | None = None,
    dag_id_prefix_pattern: str | None = None,
    run_id_pattern: str | None = None,
    run_id_prefix_pattern: str | None = None,
    state: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    pool_: Annotated[list[str], Query(alias="pool")] = [],  # noqa: B006
    pool_name_pattern: str | None = None,
    queue: Annotated[list[str], Query()] = [],  # noqa: B006
    queue_name_pattern: str | None = None,
    executor: Annotated[list[str], Query()] = [],  # noqa: B006
    version_number: Annotated[list[int], Query()] = [],  # noqa: B006
    try_number: Annotated[list[int], Query()] = [],  # noqa: B006
    operator: Annotated[list[str], Query()] = [],  # noqa: B006
    map_index: Annotated[list[int], Query()] = [],  # noqa: B006
) -> TaskInstanceCollectionResponse:
    """Get task instances of a run; ``~`` for the run (and the DAG) lists across them."""
    await _check_scope(pool, principal, dag_id, dag_run_id)
    if (
        task_group_id is not None
        or not _constant_matches(DEFAULT_POOL, pool_, pool_name_pattern)
        or not _constant_matches(DEFAULT_QUEUE, queue, queue_name_pattern)
    ):
        return _collection([], 0)
    states, no_state = _states(list(state))
    flt = TiFilter(
        dag_ids=one_or_all(dag_id),
        run_ids=one_or_all(dag_run_id),
        task_ids=[task_id] if task_id else None,
        states=states,
        include_no_state=no_state,
        task_types=_task_types(operator),
        map_indexes=map_index,
        try_numbers=try_number,
        executors=executor,
        version_numbers=version_number,
        run_after=run_after,
        logical_date=logical_date,
        start_date=start_date,
        end_date=end_date,
        updated_at=updated_at,
        duration=duration,
        task_id_pattern=task_display_name_pattern,
        task_id_prefix=task_display_name_prefix_pattern,
        dag_id_pattern=dag_id_pattern,
        dag_id_prefix=dag_id_prefix_pattern,
        run_id_pattern=run_id_pattern,
        run_id_prefix=run_id_prefix_pattern,
    )
    rows, total = await ti_queries.list_task_instances(
        pool, principal.tenant_id, flt, order_by=order_by, limit=page.limit, offset=page.offset
    )
    return _collection(rows, total)


@router.post(_TI + "/list")
async def get_task_instances_batch(
    dag_id: str, dag_run_id: str, body: TaskInstancesBatchBody, principal: Read, pool: PoolDep
) -> TaskInstanceCollectionResponse:
    """Get task instances matching a filter body (the path may use ``~``)."""
    await _check_scope(pool, principal, dag_id, dag_run_id)
    if not _constant_matches(DEFAULT_POOL, body.pool, None) or not _constant_matches(
        DEFAULT_QUEUE, body.queue, None
    ):
        return _collection([], 0)
    dag_ids = body.dag_ids if dag_id == WILDCARD else [dag_id]
    run_ids = body.dag_run_ids if dag_run_id == WILDCARD else [dag_run_id]
    states, no_state = _states([s.value if s else None for s in body.state or []])
    flt = TiFilter(
        dag_ids=dag_ids,
        run_ids=run_ids,
        task_ids=body.task_ids,
        states=states,
        include_no_state=no_state,
        executors=body.executor or (),
        run_after=body_range(body, "run_after"),
        logical_date=body_range(body, "logical_date"),
        start_date=body_range(body, "start_date"),
        end_date=body_range(body, "end_date"),
        duration=body_range(body, "duration"),
    )
    rows, total = await ti_queries.list_task_instances(
        pool,
        principal.tenant_id,
        flt,
        order_by=order_terms(body.order_by, _SORTABLE, "map_index"),
        limit=min(body.page_limit, 100),
        offset=body.page_offset,
    )
    return _collection(rows, total)


# --- one task instance: specific sub-paths first --------------------------------------------


@router.get(_TI + "/{task_id}/listMapped")
async def get_mapped_task_instances(
    dag_id: str, dag_run_id: str, task_id: str, principal: Read, pool: PoolDep
) -> TaskInstanceCollectionResponse:
    """Mapped instances of a task: Leoflow maps no task, so this is Airflow's 404."""
    await require_ti(pool, principal, dag_id, dag_run_id, task_id)
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"Task id {task_id} is not mapped")


async def _tries(
    pool: Pool, principal: Principal, dag_id: str, run_id: str, task_id: str, *, map_index: int
) -> TaskInstanceHistoryCollectionResponse:
    ti = await require_ti(pool, principal, dag_id, run_id, task_id, map_index=map_index)
    tries = [try_response(t) for t in await ti_queries.list_tries(pool, ti)]
    return TaskInstanceHistoryCollectionResponse(task_instances=tries, total_entries=len(tries))


async def _try(
    pool: Pool,
    principal: Principal,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    map_index: int,
    try_number: int,
) -> TaskInstanceHistoryResponse:
    ti = await require_ti(pool, principal, dag_id, run_id, task_id, map_index=map_index)
    for found in await ti_queries.list_tries(pool, ti):
        if found.try_number == try_number:
            return try_response(found)
    raise HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, task_id: `{task_id}`, "
        f"try_number: `{try_number}` and map_index: `{map_index}` was not found",
    )


@router.get(_TI + "/{task_id}/tries")
async def get_task_instance_tries(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    principal: Read,
    pool: PoolDep,
    map_index: int = -1,
) -> TaskInstanceHistoryCollectionResponse:
    """Every try of a task instance, the current one last."""
    return await _tries(pool, principal, dag_id, dag_run_id, task_id, map_index=map_index)


@router.get(_TI + "/{task_id}/tries/{task_try_number}")
async def get_task_instance_try_details(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    task_try_number: int,
    principal: Read,
    pool: PoolDep,
    map_index: int = -1,
) -> TaskInstanceHistoryResponse:
    """One try of a task instance."""
    return await _try(
        pool,
        principal,
        dag_id,
        dag_run_id,
        task_id,
        map_index=map_index,
        try_number=task_try_number,
    )


async def _dependencies(
    pool: Pool, catalog: DagCatalog, principal: Principal, ti: TiRow
) -> TaskDependencyCollectionResponse:
    """Why a task instance that has not started is not running yet (Airflow's failed deps)."""
    deps: list[TaskDependencyResponse] = []
    if ti.state not in (TaskState.NONE, TaskState.SCHEDULED):
        return TaskDependencyCollectionResponse(dependencies=deps)
    run = await require_run(pool, principal, ti.dag_id, ti.run_id)
    dag = await require_dag(pool, principal, ti.dag_id)
    if dag.is_paused:
        deps.append(
            TaskDependencyResponse(
                name="Dag Not Paused", reason=f"Task's DAG '{ti.dag_id}' is paused."
            )
        )
    if run.state != "running":
        deps.append(
            TaskDependencyResponse(
                name="Dagrun Running",
                reason="Task instance's dagrun was not in the 'running' state but in the "
                f"state '{run.state}'.",
            )
        )
    compiled = await compiled_version(catalog, ti.dag_version_id, ti.dag_id)
    task = compiled.tasks.get(ti.task_id)
    if task is not None and task.depends_on and ti.state == TaskState.NONE:
        rows, _ = await ti_queries.list_task_instances(
            pool,
            principal.tenant_id,
            TiFilter(dag_ids=[ti.dag_id], run_ids=[ti.run_id], task_ids=list(task.depends_on)),
            limit=None,
        )
        states = {r.task_id: r.state for r in rows}
        counts = UpstreamCounts.of(TaskState(states.get(t, "none")) for t in task.depends_on)
        if evaluate(task.trigger_rule, counts) is not Readiness.READY:
            deps.append(
                TaskDependencyResponse(
                    name="Trigger Rule",
                    reason=f"Task's trigger rule '{task.trigger_rule.value}' is not met yet: "
                    f"upstream_states={dict(sorted(states.items()))}, "
                    f"upstream_task_ids={sorted(task.depends_on)}",
                )
            )
    return TaskDependencyCollectionResponse(dependencies=sorted(deps, key=lambda d: d.name))


@router.get(_TI + "/{task_id}/dependencies")
async def get_task_instance_dependencies(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    principal: Read,
    pool: PoolDep,
    catalog: CatalogDep,
    map_index: int = -1,
) -> TaskDependencyCollectionResponse:
    """What keeps a task instance from being scheduled."""
    ti = await require_ti(pool, principal, dag_id, dag_run_id, task_id, map_index=map_index)
    return await _dependencies(pool, catalog, principal, ti)


@router.get(_TI + "/{task_id}/links", tags=["Extra Links"])
async def get_extra_links(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    principal: Read,
    pool: PoolDep,
    map_index: int = -1,
    try_number: int | None = None,
) -> ExtraLinkCollectionResponse:
    """Operator extra links: Leoflow's task types define none."""
    await require_ti(pool, principal, dag_id, dag_run_id, task_id, map_index=map_index)
    return ExtraLinkCollectionResponse(extra_links={}, total_entries=0)


# --- marking and notes -----------------------------------------------------------------------


async def apply_patch(
    *,
    request: Request,
    principal: Principal,
    pool: Pool,
    catalog: DagCatalog,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int | None,
    body: PatchTaskInstanceBody,
    update_mask: list[str] | None,
    dry_run: bool,
) -> TaskInstanceCollectionResponse:
    """Mark one task instance (with its relatives) and/or set its note, as ``PATCH
    …/taskInstances/{task_id}`` does; the bulk endpoint runs this per entity."""
    _, compiled = await latest_compiled(pool, catalog, principal, dag_id)
    if task_id not in compiled.tasks:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"Task '{task_id}' not found in Dag '{dag_id}'"
        )
    ti = await require_ti(
        pool, principal, dag_id, run_id, task_id, map_index=-1 if map_index is None else map_index
    )
    fields = set(body.model_fields_set)
    if update_mask:
        fields &= set(update_mask)
    if "new_state" in fields and body.new_state is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "'new_state' should not be empty")
    affected: list[TiRow] = [ti]
    if "new_state" in fields and body.new_state is not None:
        state = body.new_state.value
        scope = RunScope(
            dag_uuid=ti.dag_uuid,
            run_uuid=ti.run_uuid,
            logical_date=ti.logical_date,
            include_past=body.include_past,
            include_future=body.include_future,
        )
        try:
            affected = await select_for_mark(
                pool,
                principal.tenant_id,
                compiled.spec,
                ti,
                scope,
                state=state,
                upstream=body.include_upstream,
                downstream=body.include_downstream,
            )
        except SelectionError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
        if dry_run:
            return _collection(affected)
        if "note" in fields:
            await ti_queries.set_notes(pool, [ti.id], body.note or None)
        if not await apply_mark(pool, affected, state):
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"Task id {task_id} is already in {state} state"
            )
    elif dry_run:
        return _collection(affected)
    elif "note" in fields:
        await ti_queries.set_notes(pool, [ti.id], body.note or None)
    await record_action(
        request,
        principal,
        "patch_task_instance",
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        fields=sorted(fields),
    )
    return _collection(
        await ti_queries.get_task_instances_by_id(pool, principal.tenant_id, [ti.id])
    )


@router.patch(_TI + "/{task_id}/dry_run")
async def patch_task_instance_dry_run(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: PatchTaskInstanceBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
    map_index: int | None = None,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> TaskInstanceCollectionResponse:
    """The task instances a mark would change, without changing anything."""
    return await apply_patch(
        request=request,
        principal=principal,
        pool=pool,
        catalog=catalog,
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        map_index=map_index,
        body=body,
        update_mask=update_mask,
        dry_run=True,
    )


@router.patch(_TI + "/{task_id}")
async def patch_task_instance(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: PatchTaskInstanceBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
    map_index: int | None = None,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> TaskInstanceCollectionResponse:
    """Mark a task instance success, failed or skipped (with relatives), and/or set its note."""
    return await apply_patch(
        request=request,
        principal=principal,
        pool=pool,
        catalog=catalog,
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        map_index=map_index,
        body=body,
        update_mask=update_mask,
        dry_run=False,
    )


@router.delete(_TI + "/{task_id}")
async def delete_task_instance(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    map_index: int = -1,
) -> Response:
    """Delete a task instance with its tries (the scheduler recreates it if its run re-runs)."""
    ti = await require_ti(pool, principal, dag_id, dag_run_id, task_id, map_index=map_index)
    await ti_queries.delete_task_instance(pool, ti.id)
    await record_action(
        request,
        principal,
        "delete_task_instance",
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
    )
    return Response(content="null", media_type="application/json")


@router.get(_TI + "/{task_id}")
async def get_task_instance(
    dag_id: str, dag_run_id: str, task_id: str, principal: Read, pool: PoolDep
) -> TaskInstanceResponse:
    """Get a task instance (its current try)."""
    return task_instance_response(await require_ti(pool, principal, dag_id, dag_run_id, task_id))


# --- the /{task_id}/{map_index} forms -------------------------------------------------------


@router.get(_MAPPED + "/tries")
async def get_mapped_task_instance_tries(
    *, dag_id: str, dag_run_id: str, task_id: str, map_index: int, principal: Read, pool: PoolDep
) -> TaskInstanceHistoryCollectionResponse:
    """Every try of a task instance given by map index."""
    return await _tries(pool, principal, dag_id, dag_run_id, task_id, map_index=map_index)


@router.get(_MAPPED + "/tries/{task_try_number}")
async def get_mapped_task_instance_try_details(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    task_try_number: int,
    principal: Read,
    pool: PoolDep,
) -> TaskInstanceHistoryResponse:
    """One try of a task instance given by map index."""
    return await _try(
        pool,
        principal,
        dag_id,
        dag_run_id,
        task_id,
        map_index=map_index,
        try_number=task_try_number,
    )


@router.get(_MAPPED + "/dependencies")
async def get_task_instance_dependencies_by_map_index(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    principal: Read,
    pool: PoolDep,
    catalog: CatalogDep,
) -> TaskDependencyCollectionResponse:
    """What keeps a task instance (given by map index) from being scheduled."""
    ti = await require_ti(pool, principal, dag_id, dag_run_id, task_id, map_index=map_index)
    return await _dependencies(pool, catalog, principal, ti)


@router.patch(_MAPPED + "/dry_run")
async def patch_task_instance_dry_run_by_map_index(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    body: PatchTaskInstanceBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> TaskInstanceCollectionResponse:
    """The task instances a mark would change (task instance given by map index)."""
    return await apply_patch(
        request=request,
        principal=principal,
        pool=pool,
        catalog=catalog,
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        map_index=map_index,
        body=body,
        update_mask=update_mask,
        dry_run=True,
    )


@router.patch(_MAPPED)
async def patch_task_instance_by_map_index(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    body: PatchTaskInstanceBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> TaskInstanceCollectionResponse:
    """Mark a task instance given by map index, and/or set its note."""
    return await apply_patch(
        request=request,
        principal=principal,
        pool=pool,
        catalog=catalog,
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        map_index=map_index,
        body=body,
        update_mask=update_mask,
        dry_run=False,
    )


@router.get(_MAPPED)
async def get_mapped_task_instance(
    *, dag_id: str, dag_run_id: str, task_id: str, map_index: int, principal: Read, pool: PoolDep
) -> TaskInstanceResponse:
    """Get a task instance by map index (``-1`` for an unmapped task, the UI's form)."""
    return task_instance_response(
        await require_ti(pool, principal, dag_id, dag_run_id, task_id, map_index=map_index)
    )


# --- clearing ---------------------------------------------------------------------------------


@router.post("/clearTaskInstances")
async def post_clear_task_instances(
    *,
    dag_id: str,
    body: ClearTaskInstancesBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
) -> TaskInstanceCollectionResponse:
    """Clear task instances of one run, or of every run in a logical-date window.

    ``dry_run`` (the default) answers what would be cleared. ``only_failed`` (default true)
    keeps failed and upstream-failed ones, ``only_running`` running ones; relatives and
    past/future runs follow Airflow's rules. Cleared runs go back to ``queued`` on the DAG's
    latest version.
    """
    dag, _ = await latest_compiled(pool, catalog, principal, dag_id)
    scope = RunScope(
        dag_uuid=dag.id,
        include_past=body.include_past,
        include_future=body.include_future,
        start_date=body.start_date,
        end_date=body.end_date,
    )
    if body.dag_run_id is not None:
        run = await require_run(pool, principal, dag_id, body.dag_run_id)
        scope = RunScope(
            dag_uuid=dag.id,
            run_uuid=run.id,
            logical_date=run.logical_date,
            include_past=body.include_past,
            include_future=body.include_future,
        )
    try:
        run_uuids = await runs_in_scope(pool, scope)
    except SelectionError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    task_ids = (
        frozenset(t if isinstance(t, str) else t[0] for t in body.task_ids)
        if body.task_ids is not None
        else None
    )
    selection = await select_for_clear(
        pool,
        catalog,
        principal.tenant_id,
        run_uuids,
        ClearOptions(
            task_ids=task_ids,
            include_upstream=body.include_upstream,
            include_downstream=body.include_downstream,
            only_failed=body.only_failed,
            only_running=body.only_running,
        ),
    )
    selected = selection.task_instances
    if body.dry_run:
        return _collection(selected)
    running = [ti.task_id for ti in selected if ti.state in ("running", "queued", "deferred")]
    if body.prevent_running_task and running:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Cannot clear task instances that are still running: {', '.join(sorted(running))}",
        )
    cleared = await apply_clear(pool, catalog, selection)
    if body.note is not None:
        await ti_queries.set_notes(pool, cleared, body.note or None)
    await record_action(
        request,
        principal,
        "post_clear_task_instances",
        dag_id=dag_id,
        run_id=body.dag_run_id,
        task_instances=len(cleared),
    )
    return _collection(
        await ti_queries.get_task_instances_by_id(pool, principal.tenant_id, cleared)
    )
