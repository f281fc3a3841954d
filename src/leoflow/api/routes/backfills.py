"""``/api/v2/backfills``: Leoflow does not backfill (a DAG with ``catchup`` creates its missed
runs itself), so no backfill exists."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from leoflow.api.common.parameters import Page, pagination
from leoflow.api.datamodels.not_applicable import BackfillCollectionResponse, BackfillResponse
from leoflow.api.security import Permission, Principal, require

router = APIRouter(prefix="/api/v2/backfills", tags=["Backfill"])

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]


@router.get("")
async def list_backfills(
    dag_id: str, principal: Read, page: Annotated[Page, Depends(pagination)]
) -> BackfillCollectionResponse:
    """Backfills of a DAG: none."""
    return BackfillCollectionResponse(backfills=[], total_entries=0)


@router.get("/{backfill_id}")
async def get_backfill(backfill_id: int, principal: Read) -> BackfillResponse:
    """No backfill exists."""
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"Could not find backfill with id {backfill_id}")
