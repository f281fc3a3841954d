"""``/api/v2/plugins``: Leoflow loads no Airflow plugins (the control plane never imports user
code). The one entry it may list is its own: in Lite, the web editor, declared the way an
Airflow plugin declares an external view so that the web app shows an "IDE" button in its
navigation bar without any change to the web app's files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from leoflow.api.common.parameters import Page, pagination
from leoflow.api.datamodels.not_applicable import (
    PluginCollectionResponse,
    PluginImportErrorCollectionResponse,
    PluginResponse,
)
from leoflow.api.security import Permission, Principal, require

router = APIRouter(prefix="/api/v2/plugins", tags=["Plugin"])

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]


@router.get("")
async def get_plugins(
    request: Request, principal: Read, page: Annotated[Page, Depends(pagination)]
) -> PluginCollectionResponse:
    """Installed plugins: none, except Lite's web editor for those who may use it."""
    editor = getattr(request.app.state, "ide", None)  # leoflow.web.ide.IdeState
    ide = editor.nav_entry(principal) if editor is not None else None
    if ide is None:
        return PluginCollectionResponse(plugins=[], total_entries=0)
    plugin = PluginResponse(
        name="leoflow_ide",
        macros=[],
        flask_blueprints=[],
        fastapi_apps=[],
        fastapi_root_middlewares=[],
        external_views=[ide],
        react_apps=[],
        appbuilder_views=[],
        appbuilder_menu_items=[],
        global_operator_extra_links=[],
        operator_extra_links=[],
        source="Leoflow Lite",
        listeners=[],
        timetables=[],
    )
    plugins = [plugin][page.offset : page.offset + page.limit]
    return PluginCollectionResponse(plugins=plugins, total_entries=1)


@router.get("/importErrors")
async def import_errors(principal: Read) -> PluginImportErrorCollectionResponse:
    """Plugins that failed to load: none."""
    return PluginImportErrorCollectionResponse(import_errors=[], total_entries=0)
