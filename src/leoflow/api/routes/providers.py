"""``/api/v2/providers``: Leoflow installs no Airflow provider packages; tasks bring their own
dependencies in their image or venv, so the list is empty."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from leoflow.api.common.parameters import Page, pagination
from leoflow.api.datamodels.not_applicable import ProviderCollectionResponse
from leoflow.api.security import Permission, Principal, require

router = APIRouter(prefix="/api/v2/providers", tags=["Provider"])


@router.get("")
async def get_providers(
    principal: Annotated[Principal, Depends(require(Permission.DAGS_READ))],
    page: Annotated[Page, Depends(pagination)],
) -> ProviderCollectionResponse:
    """Installed providers: none."""
    return ProviderCollectionResponse(providers=[], total_entries=0)
