"""``/api/v2/dagStats``: how many runs of each DAG are in each state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.dag_run import DagRunState
from leoflow.api.datamodels.dags import (
    DagStatsCollectionResponse,
    DagStatsResponse,
    DagStatsStateResponse,
)
from leoflow.api.security import Permission, Principal, require
from leoflow.store import dag_queries
from leoflow.store.pool import Pool

router = APIRouter(prefix="/api/v2/dagStats", tags=["DagStats"])


@router.get("")
async def get_dag_stats(
    principal: Annotated[Principal, Depends(require(Permission.DAGS_READ))],
    pool: Annotated[Pool, Depends(get_pool)],
    dag_ids: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
) -> DagStatsCollectionResponse:
    """Run counts per state of the given DAGs (all DAGs with runs when none are given)."""
    counts = await dag_queries.run_state_counts(pool, principal.tenant_id, dag_ids or None)
    dags = [
        DagStatsResponse(
            dag_id=dag_id,
            dag_display_name=dag_id,
            stats=[
                DagStatsStateResponse(state=state.value, count=per_state.get(state.value, 0))
                for state in DagRunState
            ],
        )
        for dag_id, per_state in counts.items()
        if per_state
    ]
    return DagStatsCollectionResponse(dags=dags, total_entries=len(dags))
