"""``/api/v2/pools``: Leoflow has no pools (concurrency is bounded by ``max_active_tasks`` and
``max_active_runs`` per DAG and by the executors), so the list is empty and no pool exists."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from leoflow.api.common.parameters import Page, pagination
from leoflow.api.datamodels.not_applicable import PoolCollectionResponse, PoolResponse
from leoflow.api.security import Permission, Principal, require

router = APIRouter(prefix="/api/v2/pools", tags=["Pool"])

Read = Annotated[Principal, Depends(require(Permission.POOLS_READ))]


@router.get("")
async def get_pools(
    principal: Read,
    page: Annotated[Page, Depends(pagination)],
    pool_name_pattern: str | None = None,
) -> PoolCollectionResponse:
    """Pools: none."""
    return PoolCollectionResponse(pools=[], total_entries=0)


@router.get("/{pool_name}")
async def get_pool(pool_name: str, principal: Read) -> PoolResponse:
    """No pool exists."""
    raise HTTPException(
        status.HTTP_404_NOT_FOUND, f"The Pool with name: `{pool_name}` was not found"
    )
