"""``/api/v2/dagTags``: the distinct tags of the caller's DAGs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from leoflow.api.common.parameters import OrderTerms, Page, pagination, sort_param
from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.dags import DAGTagCollectionResponse
from leoflow.api.security import Permission, Principal, require
from leoflow.store import dag_queries
from leoflow.store.pool import Pool

router = APIRouter(prefix="/api/v2/dagTags", tags=["DAG"])


@router.get("")
async def get_dag_tags(
    *,
    principal: Annotated[Principal, Depends(require(Permission.DAGS_READ))],
    pool: Annotated[Pool, Depends(get_pool)],
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(("name",), "name"))],
    tag_name_pattern: str | None = None,
    tag_name_prefix_pattern: str | None = None,
) -> DAGTagCollectionResponse:
    """Distinct tag names, sorted by name."""
    names, total = await dag_queries.list_tags(
        pool,
        principal.tenant_id,
        pattern=tag_name_pattern or None,
        prefix=tag_name_prefix_pattern or None,
        descending=order_by[0][1],
        limit=page.limit,
        offset=page.offset,
    )
    return DAGTagCollectionResponse(tags=names, total_entries=total)
