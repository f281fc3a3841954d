"""``/api/v2/plugins``: Leoflow loads no Airflow plugins (the control plane never imports user
code), so both lists are empty."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from leoflow.api.common.parameters import Page, pagination
from leoflow.api.datamodels.not_applicable import (
    PluginCollectionResponse,
    PluginImportErrorCollectionResponse,
)
from leoflow.api.security import Permission, Principal, require

router = APIRouter(prefix="/api/v2/plugins", tags=["Plugin"])

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]


@router.get("")
async def get_plugins(
    principal: Read, page: Annotated[Page, Depends(pagination)]
) -> PluginCollectionResponse:
    """Installed plugins: none."""
    return PluginCollectionResponse(plugins=[], total_entries=0)


@router.get("/importErrors")
async def import_errors(principal: Read) -> PluginImportErrorCollectionResponse:
    """Plugins that failed to load: none."""
    return PluginImportErrorCollectionResponse(import_errors=[], total_entries=0)
