"""``/api/v2/dags/{dag_id}/dagRuns``: list (``~`` for every DAG), read, trigger, mark, annotate,
clear and delete runs.

Triggering, clearing and marking go through :mod:`leoflow.scheduler.operations`, which writes
with guarded compare-and-set and wakes the scheduler; this module only checks the request the
way Airflow does and translates the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from leoflow.api.common.lookups import require_dag, require_run
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
    utc,
)
from leoflow.api.common.resources import get_catalog, get_log_reader, get_pool
from leoflow.api.datamodels.dag_run import (
    DAGRunClearBody,
    DAGRunCollectionResponse,
    DagRunMutableStates,
    DAGRunPatchBody,
    DAGRunResponse,
    DAGRunsBatchBody,
    TriggerDAGRunPostBody,
)
from leoflow.api.datamodels.not_applicable import AssetEventCollectionResponse
from leoflow.api.datamodels.task_instances import ClearTaskInstanceCollectionResponse
from leoflow.api.log_reader import LogReader
from leoflow.api.routes._audit import record_action
from leoflow.api.security import Permission, Principal, require
from leoflow.api.services.dag_runs import RunClear, clear_run
from leoflow.api.translate import dag_run_response, task_instance_response
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.operations import (
    OperationError,
    manual_run_id,
    set_dag_run_state,
    trigger_dag_run,
)
from leoflow.states import RunState
from leoflow.store import run_queries
from leoflow.store._filters import Range
from leoflow.store.pool import Pool
from leoflow.store.run_queries import RunFilter, RunRow
from leoflow.store.scheduling import load_version_spec

router = APIRouter(prefix="/api/v2/dags/{dag_id}/dagRuns", tags=["DagRun"])

_SORTABLE = (
    "id",
    "state",
    "dag_id",
    "run_id",
    "logical_date",
    "run_after",
    "start_date",
    "end_date",
    "updated_at",
    "conf",
    "duration",
    "dag_run_id",
)

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
Trigger = Annotated[Principal, Depends(require(Permission.RUNS_TRIGGER))]
Edit = Annotated[Principal, Depends(require(Permission.RUNS_EDIT))]
PoolDep = Annotated[Pool, Depends(get_pool)]
DateRange = Range[datetime]


async def _answer(pool: Pool, principal: Principal, run_uuid: Any) -> DAGRunResponse:
    row = await run_queries.get_run_by_uuid(pool, principal.tenant_id, run_uuid)
    if row is None:  # pragma: no cover - deleted concurrently
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Dag run not found after update")
    return dag_run_response(row)


@router.get("")
async def get_dag_runs(
    *,
    dag_id: str,
    principal: Read,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(_SORTABLE, "id"))],
    run_after: Annotated[DateRange, Depends(datetime_range("run_after"))],
    logical_date: Annotated[DateRange, Depends(datetime_range("logical_date"))],
    start_date: Annotated[DateRange, Depends(datetime_range("start_date"))],
    end_date: Annotated[DateRange, Depends(datetime_range("end_date"))],
    updated_at: Annotated[DateRange, Depends(datetime_range("updated_at"))],
    duration: Annotated[Range[float], Depends(number_range("duration"))],
    conf_contains: str | None = None,
    run_type: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    state: Annotated[list[str], Query()] = [],  # noqa: B006
    dag_version: Annotated[list[int], Query()] = [],  # noqa: B006
    run_id_pattern: str | None = None,
    run_id_prefix_pattern: str | None = None,
    dag_id_pattern: str | None = None,
    dag_id_prefix_pattern: str | None = None,
) -> DAGRunCollectionResponse:
    """Get the runs of a DAG, or of every DAG with ``~``."""
    if dag_id != WILDCARD:
        await require_dag(pool, principal, dag_id)
    flt = RunFilter(
        dag_ids=one_or_all(dag_id),
        states=state,
        run_types=run_type,
        version_numbers=dag_version,
        run_after=run_after,
        logical_date=logical_date,
        start_date=start_date,
        end_date=end_date,
        updated_at=updated_at,
        duration=duration,
        conf_contains=conf_contains,
        run_id_pattern=run_id_pattern,
        run_id_prefix=run_id_prefix_pattern,
        dag_id_pattern=dag_id_pattern,
        dag_id_prefix=dag_id_prefix_pattern,
    )
    rows, total = await run_queries.list_runs(
        pool, principal.tenant_id, flt, order_by=order_by, limit=page.limit, offset=page.offset
    )
    return DAGRunCollectionResponse(
        dag_runs=[dag_run_response(r) for r in rows], total_entries=total
    )


@router.post("/list")
async def get_list_dag_runs_batch(
    dag_id: Literal["~"], body: DAGRunsBatchBody, principal: Read, pool: PoolDep
) -> DAGRunCollectionResponse:
    """Get runs of several DAGs at once (the path's ``dag_id`` must be ``~``)."""
    states = [s.value for s in body.states or [] if s is not None]
    flt = RunFilter(
        dag_ids=body.dag_ids,
        states=states,
        run_after=body_range(body, "run_after"),
        logical_date=body_range(body, "logical_date"),
        start_date=body_range(body, "start_date"),
        end_date=body_range(body, "end_date"),
        duration=body_range(body, "duration"),
        conf_contains=body.conf_contains,
    )
    rows, total = await run_queries.list_runs(
        pool,
        principal.tenant_id,
        flt,
        order_by=order_terms(body.order_by, _SORTABLE, "id"),
        limit=min(body.page_limit, 100),
        offset=body.page_offset,
    )
    return DAGRunCollectionResponse(
        dag_runs=[dag_run_response(r) for r in rows], total_entries=total
    )


@router.get("/{dag_run_id}")
async def get_dag_run(
    dag_id: str, dag_run_id: str, principal: Read, pool: PoolDep
) -> DAGRunResponse:
    """Get one run."""
    return dag_run_response(await require_run(pool, principal, dag_id, dag_run_id))


async def _missing_params(version_id: Any, pool: Pool, conf: dict[str, Any]) -> list[str]:
    """Declared run parameters without a default that ``conf`` does not give either."""
    spec = await load_version_spec(pool, version_id)
    defaults = spec.get("params") or {}
    return [
        name
        for name in spec.get("params_schema") or {}
        if name not in defaults and name not in conf
    ]


@router.post("")
async def post_dag_run(
    dag_id: str,
    body: TriggerDAGRunPostBody,
    request: Request,
    principal: Trigger,
    pool: PoolDep,
) -> DAGRunResponse:
    """Trigger a run of a DAG (queued; the scheduler starts it).

    ``logical_date`` must be present and may be ``null`` (Airflow 3); ``conf`` is handed to the
    run as its parameters.
    """
    dag = await require_dag(
        pool,
        principal,
        dag_id,
        HTTPException(status.HTTP_404_NOT_FOUND, f"Dag with dag_id: '{dag_id}' not found"),
    )
    if not dag.is_active:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Dag with dag_id: '{dag_id}' not found")
    if dag.has_import_errors:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"Dag with dag_id: '{dag_id}' has import errors and cannot be triggered",
        )
    if dag.latest_version_id is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"Dag with dag_id: '{dag_id}' has no registered version; push its dag.json first",
        )
    conf = dict(body.conf or {})
    missing = await _missing_params(dag.latest_version_id, pool, conf)
    if missing:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"Invalid input for param {missing[0]}: a value is required (declared without a "
            f"default); pass it in conf. Missing: {', '.join(missing)}",
        )
    run_after = utc(body.run_after) or datetime.now(UTC)
    run_id = body.dag_run_id or manual_run_id(body.logical_date or run_after)
    if await run_queries.run_exists(pool, dag.id, run_id):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"A DAG run with run_id '{run_id}' already exists for DAG '{dag_id}'",
        )
    try:
        run = await trigger_dag_run(
            pool,
            dag.id,
            conf=conf,
            logical_date=body.logical_date,
            run_id=run_id,
            triggered_by="ui" if request.headers.get("referer") else "rest_api",
            triggering_user_name=principal.username,
            note=body.note,
            now=run_after,
        )
    except OperationError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    await record_action(request, principal, "trigger_dag_run", dag_id=dag_id, run_id=run.run_id)
    return await _answer(pool, principal, run.id)


@router.patch("/{dag_run_id}")
async def patch_dag_run(
    *,
    dag_id: str,
    dag_run_id: str,
    body: DAGRunPatchBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> DAGRunResponse:
    """Mark a run (``queued``, ``success``, ``failed``) and/or change its note."""
    run = await require_run(pool, principal, dag_id, dag_run_id)
    fields = set(body.model_fields_set)
    if update_mask:
        fields &= set(update_mask)
    if "note" in fields:
        await run_queries.set_run_note(pool, run.id, body.note or None)
    if "state" in fields and body.state is not None:
        await _mark_run(pool, run, body.state)
    await record_action(
        request, principal, "patch_dag_run", dag_id=dag_id, run_id=dag_run_id, fields=sorted(fields)
    )
    return await _answer(pool, principal, run.id)


async def _mark_run(pool: Pool, run: RunRow, state: DagRunMutableStates) -> None:
    try:
        await set_dag_run_state(pool, run.id, RunState(state.value))
    except OperationError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


@router.delete("/{dag_run_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_dag_run(
    *,
    dag_id: str,
    dag_run_id: str,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    logs: Annotated[LogReader, Depends(get_log_reader)],
) -> Response:
    """Delete a run with its task instances, XComs and logs (not while it is running)."""
    run = await require_run(pool, principal, dag_id, dag_run_id)
    if run.state not in {s.value for s in DagRunMutableStates}:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"The DagRun with dag_id: `{dag_id}` and run_id: `{dag_run_id}` cannot be deleted "
            f"in {run.state} state",
        )
    await run_queries.delete_run(pool, run.id)
    await logs.delete_run(principal.tenant, dag_id, dag_run_id)
    await record_action(request, principal, "delete_dag_run", dag_id=dag_id, run_id=dag_run_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{dag_run_id}/clear", response_model=None)
async def clear_dag_run(
    *,
    dag_id: str,
    dag_run_id: str,
    body: DAGRunClearBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: Annotated[DagCatalog, Depends(get_catalog)],
) -> ClearTaskInstanceCollectionResponse | DAGRunResponse:
    """Clear a run: every task (or only the failed ones) runs again, on the latest version.

    A dry run answers the task instances that would be cleared; otherwise the run is answered.
    ``only_new`` clears no existing task instance: the run is re-queued on the latest version,
    whose new tasks are then created and run.
    """
    run = await require_run(pool, principal, dag_id, dag_run_id)
    options = RunClear(
        only_failed=body.only_failed,
        only_new=body.only_new,
        dry_run=body.dry_run,
        note=body.note,
    )
    try:
        rows = await clear_run(pool, catalog, principal, run, options)
    except OperationError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if body.dry_run:
        return ClearTaskInstanceCollectionResponse(
            task_instances=[task_instance_response(r) for r in rows], total_entries=len(rows)
        )
    await record_action(request, principal, "clear_dag_run", dag_id=dag_id, run_id=dag_run_id)
    return await _answer(pool, principal, run.id)


@router.get("/{dag_run_id}/upstreamAssetEvents", tags=["Asset"])
async def get_upstream_asset_events(
    dag_id: str, dag_run_id: str, principal: Read, pool: PoolDep
) -> AssetEventCollectionResponse:
    """Asset events that triggered the run: none, Leoflow has no assets."""
    await require_run(pool, principal, dag_id, dag_run_id)
    return AssetEventCollectionResponse(asset_events=[], total_entries=0)
