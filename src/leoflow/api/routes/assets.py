"""``/api/v2/assets`` and asset events: Leoflow has no assets (DAGs run on a schedule or on
demand), so every collection is empty."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from leoflow.api.common.lookups import require_dag
from leoflow.api.common.parameters import Page, pagination
from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.not_applicable import (
    AssetAliasCollectionResponse,
    AssetCollectionResponse,
    AssetEventCollectionResponse,
    QueuedEventCollectionResponse,
)
from leoflow.api.security import Permission, Principal, require
from leoflow.store.pool import Pool

router = APIRouter(prefix="/api/v2", tags=["Asset"])

Read = Annotated[Principal, Depends(require(Permission.ASSETS_READ))]
PageDep = Annotated[Page, Depends(pagination)]


@router.get("/assets")
async def get_assets(principal: Read, page: PageDep) -> AssetCollectionResponse:
    """Assets: none."""
    return AssetCollectionResponse(assets=[], total_entries=0)


@router.get("/assets/events")
async def get_asset_events(principal: Read, page: PageDep) -> AssetEventCollectionResponse:
    """Asset events: none."""
    return AssetEventCollectionResponse(asset_events=[], total_entries=0)


@router.get("/assets/aliases")
async def get_asset_aliases(principal: Read, page: PageDep) -> AssetAliasCollectionResponse:
    """Asset aliases: none."""
    return AssetAliasCollectionResponse(asset_aliases=[], total_entries=0)


@router.get("/dags/{dag_id}/assets/queuedEvents")
async def get_dag_asset_queued_events(
    dag_id: str, principal: Read, pool: Annotated[Pool, Depends(get_pool)]
) -> QueuedEventCollectionResponse:
    """Asset events queued for a DAG: none."""
    await require_dag(pool, principal, dag_id)
    return QueuedEventCollectionResponse(queued_events=[], total_entries=0)
