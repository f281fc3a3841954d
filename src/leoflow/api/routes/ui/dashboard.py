"""``/ui/dashboard/*``: the counters and history bars of the home page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from leoflow.api.common.parameters import utc
from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.ui.dashboard import (
    DAGRunStates,
    DashboardDagStatsResponse,
    HistoricalMetricDataResponse,
    TaskInstanceStateCount,
)
from leoflow.api.security import Permission, Principal, require
from leoflow.store import ui_queries
from leoflow.store.pool import Pool

router = APIRouter(prefix="/dashboard")

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
PoolDep = Annotated[Pool, Depends(get_pool)]

_NO_STATE = "none"


@router.get("/dag_stats")
async def dag_stats(principal: Read, pool: PoolDep) -> DashboardDagStatsResponse:
    """Unpaused DAGs, DAGs whose latest run failed, DAGs with running or queued runs."""
    stats = await ui_queries.dashboard_dag_stats(pool, principal.tenant_id)
    return DashboardDagStatsResponse(
        active_dag_count=stats.active,
        failed_dag_count=stats.failed,
        running_dag_count=stats.running,
        queued_dag_count=stats.queued,
    )


@router.get("/historical_metrics_data")
async def historical_metrics(
    principal: Read, pool: PoolDep, start_date: datetime, end_date: datetime | None = None
) -> HistoricalMetricDataResponse:
    """Runs and task instances per state, for runs due between ``start_date`` and
    ``end_date`` (default: now)."""
    start = utc(start_date) or start_date
    end = utc(end_date) or datetime.now(UTC)
    runs, tis = await ui_queries.historical_state_counts(pool, principal.tenant_id, start, end)
    ti_counts = {("no_status" if state == _NO_STATE else state): n for state, n in tis.items()}
    return HistoricalMetricDataResponse(
        dag_run_states=DAGRunStates(**runs),
        task_instance_states=TaskInstanceStateCount(**ti_counts),
    )
