"""``/api/v2/dagSources/{dag_id}``: the DAG file text stored in a version's ``source``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Response, status
from fastapi.responses import PlainTextResponse

from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.dag_sources import DAGSourceResponse
from leoflow.api.security import Permission, Principal, require
from leoflow.store import dag_queries
from leoflow.store.pool import Pool

router = APIRouter(prefix="/api/v2/dagSources", tags=["DagSource"])

_TEXT = "text/plain"
_JSON = "application/json"


def _wants(accept: str) -> str | None:
    """The media type to answer with, or ``None`` when none of ours is acceptable."""
    for part in (p.split(";")[0].strip().lower() for p in accept.split(",")):
        if part in (_JSON, "*/*", "application/*", ""):
            return _JSON
        if part in (_TEXT, "text/*"):
            return _TEXT
    return None


@router.get(
    "/{dag_id}",
    response_model=DAGSourceResponse,
    responses={200: {"content": {_TEXT: {"schema": {"type": "string"}}}}},
)
async def get_dag_source(
    dag_id: str,
    principal: Annotated[Principal, Depends(require(Permission.DAGS_READ))],
    pool: Annotated[Pool, Depends(get_pool)],
    version_number: int | None = None,
    accept: Annotated[str, Header(description="application/json, text/plain or */*")] = "*/*",
) -> Response | DAGSourceResponse:
    """Get the source of a DAG version (its latest unless ``version_number`` is given)."""
    media = _wants(accept)
    if media is None:
        raise HTTPException(
            status.HTTP_406_NOT_ACCEPTABLE, "Only application/json or text/plain is supported"
        )
    found = await dag_queries.get_version_source(pool, principal.tenant_id, dag_id, version_number)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"The source code of the Dag {dag_id}, version_number {version_number} was not found",
        )
    number, content = found
    if media == _TEXT:
        return PlainTextResponse(content or "")
    return DAGSourceResponse(
        content=content, dag_id=dag_id, version_number=number, dag_display_name=dag_id
    )
