"""``/ui/dags``: the DAG list with each DAG's latest runs, and per-DAG run summaries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from leoflow.api.common.lookups import require_dag, run_not_found
from leoflow.api.common.parameters import (
    OrderTerms,
    Page,
    datetime_range,
    pagination,
    sort_param,
)
from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.dag_run import DagRunState
from leoflow.api.datamodels.ui.dags import (
    DAGRunLightResponse,
    DagRunStatsResponse,
    DAGWithLatestDagRunsCollectionResponse,
    DAGWithLatestDagRunsResponse,
    DurationStats,
)
from leoflow.api.security import Permission, Principal, require
from leoflow.api.translate import dag_response
from leoflow.store import dag_queries, ui_queries
from leoflow.store._filters import Range
from leoflow.store.dag_queries import DagFilter
from leoflow.store.pool import Pool
from leoflow.store.ui_queries import LightRun

router = APIRouter()

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
PoolDep = Annotated[Pool, Depends(get_pool)]

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
_JS_SAFE_BITS = 53


def light_run_id(run_uuid: UUID) -> int:
    """A stable integer standing for a run's UUID (the web app wants a number it can key
    on; 53 bits stay exact in JavaScript)."""
    return run_uuid.int >> (128 - _JS_SAFE_BITS)


def light_run(run: LightRun) -> DAGRunLightResponse:
    """A run as the DAG list's bars show it."""
    return DAGRunLightResponse(
        id=light_run_id(run.id),
        dag_id=run.dag_id,
        run_id=run.run_id,
        logical_date=run.logical_date,
        run_after=run.run_after,
        start_date=run.start_date,
        end_date=run.end_date,
        state=DagRunState(run.state),
    )


@router.get("/dags")
async def get_dags_ui(
    *,
    principal: Read,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(_SORTABLE, "dag_id"))],
    last_run_start: Annotated[Range[datetime], Depends(datetime_range("dag_run_start_date"))],
    last_run_end: Annotated[Range[datetime], Depends(datetime_range("dag_run_end_date"))],
    dag_runs_limit: int = 10,
    tags: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    tags_match_mode: Literal["any", "all"] | None = None,
    owners: Annotated[list[str], Query()] = [],  # noqa: B006
    dag_ids: Annotated[list[str] | None, Query()] = None,
    dag_id_pattern: str | None = None,
    dag_id_prefix_pattern: str | None = None,
    dag_display_name_pattern: str | None = None,
    dag_display_name_prefix_pattern: str | None = None,
    exclude_stale: bool = True,
    paused: bool | None = None,
    has_import_errors: bool | None = None,
    last_dag_run_state: DagRunState | None = None,
    dag_run_state: DagRunState | None = None,
    bundle_name: str | None = None,
    bundle_version: str | None = None,
    is_favorite: bool | None = None,
    has_asset_schedule: bool | None = None,
    asset_dependency: str | None = None,
    has_pending_actions: bool | None = None,
) -> DAGWithLatestDagRunsCollectionResponse:
    """The DAG list: one page of DAGs, each with its ``dag_runs_limit`` latest runs.

    Leoflow has no bundles, asset schedules or pending human actions: filtering on them
    matches what Airflow would match for DAGs that have none.
    """
    if (
        bundle_name
        or bundle_version
        or has_asset_schedule
        or asset_dependency
        or has_pending_actions
    ):
        return DAGWithLatestDagRunsCollectionResponse(total_entries=0, dags=[])
    if dag_run_state is not None:
        having = await ui_queries.dags_with_run_state(
            pool, principal.tenant_id, dag_run_state.value
        )
        dag_ids = sorted(having if dag_ids is None else having.intersection(dag_ids))
    flt = DagFilter(
        dag_ids=dag_ids,
        tags=tags,
        tags_match_all=tags_match_mode == "all",
        owners=owners,
        dag_id_pattern=dag_id_pattern or dag_display_name_pattern,
        dag_id_prefix=dag_id_prefix_pattern or dag_display_name_prefix_pattern,
        paused=paused,
        exclude_stale=exclude_stale,
        has_import_errors=has_import_errors,
        last_run_state=last_dag_run_state.value if last_dag_run_state else None,
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
    runs = await ui_queries.latest_runs_per_dag(
        pool, principal.tenant_id, [r.dag_id for r in rows], max(dag_runs_limit, 0)
    )
    dags = [
        DAGWithLatestDagRunsResponse(
            **dag_response(row).model_dump(),
            asset_expression=None,
            latest_dag_runs=[light_run(run) for run in runs.get(row.dag_id, [])],
            pending_actions=[],
            is_favorite=row.is_favorite,
        )
        for row in rows
    ]
    return DAGWithLatestDagRunsCollectionResponse(total_entries=total, dags=dags)


@router.get("/dags/{dag_id}/latest_run")
async def get_latest_run_info(
    dag_id: str, principal: Read, pool: PoolDep
) -> DAGRunLightResponse | None:
    """The DAG's newest run (``null`` before its first run)."""
    await require_dag(pool, principal, dag_id)
    run = await ui_queries.latest_run(pool, principal.tenant_id, dag_id)
    return light_run(run) if run is not None else None


@router.get("/dags/{dag_id}/dagRuns/{dag_run_id}/stats")
async def get_dag_run_stats(
    dag_id: str, dag_run_id: str, principal: Read, pool: PoolDep
) -> DagRunStatsResponse:
    """How long the DAG's successful runs take (shown beside a run's duration)."""
    await require_dag(pool, principal, dag_id)
    if not await ui_queries.run_exists(pool, principal.tenant_id, dag_id, dag_run_id):
        raise run_not_found(dag_id, dag_run_id)
    stats = await ui_queries.run_duration_stats(pool, principal.tenant_id, dag_id)
    if stats.count == 0 or stats.mean is None:
        return DagRunStatsResponse(duration=None)
    return DagRunStatsResponse(
        duration=DurationStats(
            mean=stats.mean,
            mode=stats.mode,
            p50=stats.p50 or 0.0,
            p90=stats.p90 or 0.0,
            p95=stats.p95 or 0.0,
            p99=stats.p99 or 0.0,
        )
    )
