"""``/api/v2/dags``: list, read, pause and delete DAGs, and mark favourites.

``DELETE /dags/{dag_id}`` clears the DAG's run history (runs, task instances, tries, XComs and
logs) and keeps its registered versions, so the DAG stays listed and can run again, which is
what an Airflow user sees after a delete. ``?deregister=true`` also removes the DAG and its
versions until the next push (ADR 0014).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from leoflow.api.common.lookups import require_dag
from leoflow.api.common.parameters import (
    OrderTerms,
    Page,
    datetime_range,
    pagination,
    sort_param,
)
from leoflow.api.common.resources import get_log_reader, get_pool
from leoflow.api.datamodels.dag_run import DagRunState
from leoflow.api.datamodels.dags import (
    DAGCollectionResponse,
    DAGDetailsResponse,
    DAGPatchBody,
    DAGResponse,
)
from leoflow.api.log_reader import LogReader
from leoflow.api.routes._audit import record_action
from leoflow.api.security import Permission, Principal, require
from leoflow.api.translate import dag_details_response, dag_response
from leoflow.store import dag_queries
from leoflow.store._filters import Range
from leoflow.store.dag_queries import DagFilter, DagRow
from leoflow.store.pool import Pool

router = APIRouter(prefix="/api/v2/dags", tags=["DAG"])

_SORTABLE = (
    "dag_id",
    "dag_display_name",
    "next_dagrun",
    "state",
    "start_date",
    "last_run_state",
    "last_run_start_date",
)
_SORT_ALIASES = {"next_dagrun": "dag_id", "state": "is_paused", "start_date": "dag_id"}

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
Edit = Annotated[Principal, Depends(require(Permission.DAGS_EDIT))]
PoolDep = Annotated[Pool, Depends(get_pool)]


def _not_found(dag_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Dag with id: {dag_id} was not found")


async def _dag(pool: Pool, principal: Principal, dag_id: str) -> DagRow:
    return await require_dag(pool, principal, dag_id, _not_found(dag_id))


def _check_update_mask(update_mask: list[str] | None) -> None:
    if update_mask and update_mask != ["is_paused"]:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Only `is_paused` field can be updated through the REST API",
        )


@router.get("")
async def get_dags(
    *,
    principal: Read,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(_SORTABLE, "dag_id"))],
    last_run_start: Annotated[Range[datetime], Depends(datetime_range("dag_run_start_date"))],
    last_run_end: Annotated[Range[datetime], Depends(datetime_range("dag_run_end_date"))],
    tags: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    tags_match_mode: Literal["any", "all"] | None = None,
    owners: Annotated[list[str], Query()] = [],  # noqa: B006
    dag_id_pattern: str | None = None,
    dag_id_prefix_pattern: str | None = None,
    dag_display_name_pattern: str | None = None,
    dag_display_name_prefix_pattern: str | None = None,
    exclude_stale: bool = True,
    paused: bool | None = None,
    has_import_errors: bool | None = None,
    last_dag_run_state: DagRunState | None = None,
    dag_run_state: Annotated[list[str], Query()] = [],  # noqa: B006
    is_favorite: bool | None = None,
) -> DAGCollectionResponse:
    """Get all DAGs of the caller's tenant."""
    flt = DagFilter(
        tags=tags,
        tags_match_all=tags_match_mode == "all",
        owners=owners,
        dag_id_pattern=dag_id_pattern or dag_display_name_pattern,
        dag_id_prefix=dag_id_prefix_pattern or dag_display_name_prefix_pattern,
        paused=paused,
        exclude_stale=exclude_stale,
        has_import_errors=has_import_errors,
        last_run_state=last_dag_run_state.value if last_dag_run_state else None,
        last_run_states=dag_run_state,
        last_run_start=last_run_start,
        last_run_end=last_run_end,
        favorite_of=principal.user_id if is_favorite else None,
        not_favorite_of=principal.user_id if is_favorite is False else None,
    )
    rows, total = await dag_queries.list_dags(
        pool,
        principal.tenant_id,
        flt,
        order_by=[(_SORT_ALIASES.get(name, name), desc) for name, desc in order_by],
        limit=page.limit,
        offset=page.offset,
        user_id=principal.user_id,
    )
    return DAGCollectionResponse(dags=[dag_response(r) for r in rows], total_entries=total)


@router.patch("")
async def patch_dags(
    *,
    body: DAGPatchBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    update_mask: Annotated[list[str] | None, Query()] = None,
    tags: Annotated[list[str], Query()] = [],  # noqa: B006
    tags_match_mode: Literal["any", "all"] | None = None,
    owners: Annotated[list[str], Query()] = [],  # noqa: B006
    dag_id_pattern: str | None = None,
    dag_id_prefix_pattern: str | None = None,
    exclude_stale: bool = True,
    paused: bool | None = None,
) -> DAGCollectionResponse:
    """Pause or unpause every DAG matching the filters.

    Without ``dag_id_pattern`` or ``dag_id_prefix_pattern`` nothing matches (as in Airflow);
    ``dag_id_pattern=~`` matches every DAG.
    """
    _check_update_mask(update_mask)
    if dag_id_pattern is None and dag_id_prefix_pattern is None:
        return DAGCollectionResponse(dags=[], total_entries=0)
    flt = DagFilter(
        tags=tags,
        tags_match_all=tags_match_mode == "all",
        owners=owners,
        dag_id_pattern=dag_id_pattern,
        dag_id_prefix=dag_id_prefix_pattern,
        paused=paused,
        exclude_stale=exclude_stale,
    )
    changed = await dag_queries.set_paused_matching(pool, principal.tenant_id, flt, body.is_paused)
    rows, total = await dag_queries.list_dags(
        pool,
        principal.tenant_id,
        DagFilter(dag_ids=changed, exclude_stale=False),
        limit=page.limit,
        offset=page.offset,
        user_id=principal.user_id,
    )
    await record_action(request, principal, "patch_dags", dag_ids=changed, is_paused=body.is_paused)
    return DAGCollectionResponse(dags=[dag_response(r) for r in rows], total_entries=total)


@router.get("/{dag_id}")
async def get_dag(dag_id: str, principal: Read, pool: PoolDep) -> DAGResponse:
    """Get basic information about a DAG."""
    return dag_response(await _dag(pool, principal, dag_id))


@router.get("/{dag_id}/details")
async def get_dag_details(dag_id: str, principal: Read, pool: PoolDep) -> DAGDetailsResponse:
    """Get everything about a DAG (its latest version's schedule, params, defaults …)."""
    return dag_details_response(await _dag(pool, principal, dag_id))


@router.patch("/{dag_id}")
async def patch_dag(
    *,
    dag_id: str,
    body: DAGPatchBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> DAGResponse:
    """Pause or unpause a DAG."""
    _check_update_mask(update_mask)
    await _dag(pool, principal, dag_id)
    await dag_queries.set_paused_matching(
        pool, principal.tenant_id, DagFilter(dag_ids=[dag_id], exclude_stale=False), body.is_paused
    )
    await record_action(request, principal, "patch_dag", dag_id=dag_id, is_paused=body.is_paused)
    return dag_response(await _dag(pool, principal, dag_id))


@router.delete("/{dag_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_dag(
    *,
    dag_id: str,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    logs: Annotated[LogReader, Depends(get_log_reader)],
    deregister: Annotated[
        bool,
        Query(
            description="Also remove the DAG and its registered versions (until the next push); "
            "without it only the run history is deleted."
        ),
    ] = False,
) -> Response:
    """Delete a DAG's run history; with ``deregister=true`` the DAG itself too.

    Refused with 409 while any of its task instances is queued or running.
    """
    row = await _dag(pool, principal, dag_id)
    if await dag_queries.count_active_task_instances(pool, row.id):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Task instances of dag with id: '{dag_id}' are still running",
        )
    if deregister:
        await dag_queries.deregister_dag(pool, row.id)
    else:
        await dag_queries.clear_dag_history(pool, row.id)
    await logs.delete_dag(principal.tenant, dag_id)
    await record_action(request, principal, "delete_dag", dag_id=dag_id, deregister=deregister)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{dag_id}/favorite", status_code=status.HTTP_204_NO_CONTENT)
async def favorite_dag(dag_id: str, principal: Read, pool: PoolDep) -> Response:
    """Mark the DAG as one of the caller's favourites."""
    row = await _dag(pool, principal, dag_id)
    await dag_queries.set_favorite(pool, principal.user_id, row.id, True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{dag_id}/unfavorite", status_code=status.HTTP_204_NO_CONTENT)
async def unfavorite_dag(dag_id: str, principal: Read, pool: PoolDep) -> Response:
    """Remove the DAG from the caller's favourites (409 when it was not one)."""
    row = await _dag(pool, principal, dag_id)
    if not await dag_queries.set_favorite(pool, principal.user_id, row.id, False):
        raise HTTPException(status.HTTP_409_CONFLICT, "Dag is not marked as favorite")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
