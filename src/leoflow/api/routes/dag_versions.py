"""``/api/v2/dags/{dag_id}/dagVersions`` (Airflow's reads) and ``POST …/versions`` (Leoflow's
registration of a compiled ``dag.json``).

Registration is idempotent by content: pushing a spec whose hash is already registered answers
200 with the existing version; a new hash answers 201 with the next version number. An invalid
document is refused with 422 listing every problem with its field path, and nothing is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response, status
from pydantic import ValidationError

from leoflow.api.common.lookups import require_dag
from leoflow.api.common.parameters import (
    WILDCARD,
    OrderTerms,
    Page,
    one_or_all,
    pagination,
    sort_param,
)
from leoflow.api.common.resources import get_pool, get_settings
from leoflow.api.datamodels.dag_versions import (
    DAGVersionCollectionResponse,
    DagVersionRegistration,
    DagVersionResponse,
)
from leoflow.api.routes._audit import record_action
from leoflow.api.security import Permission, Principal, require
from leoflow.api.translate import version_response
from leoflow.config import Settings
from leoflow.executors.inline_http import inline_http_problems
from leoflow.scheduler.operations import FULL_PASS
from leoflow.spec import DagSpec, dump_dag_json, spec_hash
from leoflow.spec.errors import PROBLEMS_ERROR_TYPE, is_union_tag, problems_from_validation_error
from leoflow.store import dag_queries, import_errors
from leoflow.store.dag_versions import register_dag_version
from leoflow.store.dags import upsert_dag
from leoflow.store.pool import Pool
from leoflow.store.wakeups import SCHEDULER_CHANNEL, notify

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["DagVersion"])

_SORTABLE = ("id", "version_number", "bundle_name", "bundle_version")

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
Push = Annotated[Principal, Depends(require(Permission.DAG_VERSIONS_PUSH))]
PoolDep = Annotated[Pool, Depends(get_pool)]


@router.get("/dagVersions/{version_number}")
async def get_dag_version(
    dag_id: str, version_number: int, principal: Read, pool: PoolDep
) -> DagVersionResponse:
    """Get one version of a DAG."""
    rows, _ = await dag_queries.list_versions(
        pool, principal.tenant_id, dag_ids=[dag_id], version_number=version_number, limit=1
    )
    if not rows:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"The DagVersion with dag_id: `{dag_id}` and version_number: `{version_number}` "
            "was not found",
        )
    row = rows[0]
    return version_response(row.dag_id, row.id, row.version_number, row.created_at)


@router.get("/dagVersions")
async def get_dag_versions(
    *,
    dag_id: str,
    principal: Read,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(_SORTABLE, "id"))],
    version_number: int | None = None,
    bundle_name: str | None = None,
    bundle_version: str | None = None,
) -> DAGVersionCollectionResponse:
    """Get the versions of a DAG (``~`` for every DAG's)."""
    if dag_id != WILDCARD:
        await require_dag(pool, principal, dag_id)
    if bundle_name is not None or bundle_version is not None:
        # Leoflow versions come from pushes, never from a bundle: no version has one.
        return DAGVersionCollectionResponse(dag_versions=[], total_entries=0)
    rows, total = await dag_queries.list_versions(
        pool,
        principal.tenant_id,
        dag_ids=one_or_all(dag_id),
        version_number=version_number,
        order_by=order_by,
        limit=page.limit,
        offset=page.offset,
    )
    return DAGVersionCollectionResponse(
        dag_versions=[
            version_response(r.dag_id, r.id, r.version_number, r.created_at) for r in rows
        ],
        total_entries=total,
    )


def _validation_details(exc: ValidationError, data: dict[str, Any]) -> list[dict[str, Any]]:
    """One FastAPI-style 422 entry per problem: its field path in ``loc``, the fix in ``msg``."""
    lines = problems_from_validation_error(exc, model=DagSpec, data=data)
    details: list[dict[str, Any]] = []
    position = 0
    for error in exc.errors(include_url=False):
        loc = ["body", *(part for part in error["loc"] if not is_union_tag(part))]
        count = 1
        if error["type"] == PROBLEMS_ERROR_TYPE:
            count = max(1, len((error.get("ctx") or {}).get("problems", ())))
        for line in lines[position : position + count]:
            details.append({"type": error["type"], "loc": loc, "msg": line, "input": None})
        position += count
    for line in lines[position:]:
        details.append({"type": "value_error", "loc": ["body"], "msg": line, "input": None})
    return details


def _paused_on_create(settings: Settings) -> bool:
    if settings.dags_are_paused_at_creation is not None:
        return settings.dags_are_paused_at_creation
    return settings.edition == "pro"


@router.post(
    "/versions",
    tags=["Leoflow"],
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": DagVersionRegistration, "description": "The spec was already registered"},
        201: {"model": DagVersionRegistration, "description": "A new version was registered"},
    },
)
async def register_version(
    *,
    dag_id: str,
    document: Annotated[dict[str, Any], Body(description="A compiled dag.json document")],
    request: Request,
    response: Response,
    principal: Push,
    pool: PoolDep,
    settings: Annotated[Settings, Depends(get_settings)],
) -> DagVersionRegistration:
    """Register a compiled ``dag.json`` as the DAG's latest version (Leoflow's push)."""
    try:
        spec = DagSpec.model_validate(document)
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, _validation_details(exc, document)
        ) from None
    if spec.dag_id != dag_id:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "type": "value_error",
                    "loc": ["body", "dag_id"],
                    "msg": f"dag_id '{spec.dag_id}' does not match the URL's '{dag_id}'; push "
                    f"it to /api/v2/dags/{spec.dag_id}/versions",
                    "input": spec.dag_id,
                }
            ],
        )
    inline_problems = inline_http_problems(spec, settings)
    if inline_problems:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {"type": "value_error", "loc": ["body", "tasks"], "msg": problem, "input": None}
                for problem in inline_problems
            ],
        )
    async with pool.connection() as conn, conn.transaction():
        # One transaction: a failed push leaves neither a half-described DAG nor stale errors.
        dag = await upsert_dag(
            conn,
            principal.tenant_id,
            dag_id,
            description=spec.description,
            owners=[spec.owner] if spec.owner else [],
            tags=spec.tags,
            paused_on_create=_paused_on_create(settings),
        )
        version, created = await register_dag_version(
            conn,
            principal.tenant_id,
            dag_id,
            dump_dag_json(spec),
            spec_hash(spec),
            image=spec.image,
        )
        await import_errors.clear_import_errors(conn, principal.tenant_id, dag_id=dag_id)
    await notify(pool, SCHEDULER_CHANNEL, FULL_PASS)
    if created:
        await record_action(
            request,
            principal,
            "register_dag_version",
            dag_id=dag_id,
            version_number=version.version_number,
        )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return DagVersionRegistration(
        dag_id=dag_id,
        version_number=version.version_number,
        version_id=version.id,
        spec_hash=version.spec_hash,
        created=created,
        created_at=version.created_at,
        is_paused=dag.is_paused,
    )
