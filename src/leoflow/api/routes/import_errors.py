"""``/api/v2/importErrors``: Airflow's reads, plus Leoflow's report and clear endpoints.

Leoflow compiles DAG files outside the server, so whoever compiles reports failures here: the
Lite workspace watcher (or a CI step) ``PUT``s a failing file and ``DELETE``s it once it
compiles again. A successful push of a DAG's version clears that DAG's errors too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from leoflow.api.common.parameters import OrderTerms, Page, pagination, sort_param
from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.import_error import (
    ImportErrorCollectionResponse,
    ImportErrorReport,
    ImportErrorResponse,
)
from leoflow.api.security import Permission, Principal, require
from leoflow.store import import_errors
from leoflow.store.import_errors import ImportError_
from leoflow.store.pool import Pool

router = APIRouter(prefix="/api/v2/importErrors", tags=["Import Error"])

_SORTABLE = ("id", "timestamp", "filename", "bundle_name", "stacktrace", "import_error_id")

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
Report = Annotated[Principal, Depends(require(Permission.DAG_VERSIONS_PUSH))]
PoolDep = Annotated[Pool, Depends(get_pool)]


def _response(row: ImportError_) -> ImportErrorResponse:
    return ImportErrorResponse(
        import_error_id=row.import_error_id,
        timestamp=row.created_at,
        filename=row.filename,
        bundle_name=None,
        stack_trace=row.stacktrace,
    )


@router.get("")
async def get_import_errors(
    *,
    principal: Read,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(_SORTABLE, "id"))],
    filename_pattern: str | None = None,
    filename_prefix_pattern: str | None = None,
    filename: str | None = None,
    bundle_name: str | None = None,
) -> ImportErrorCollectionResponse:
    """Files of the caller's tenant that failed to compile."""
    if bundle_name is not None:  # Leoflow's DAG files come from pushes, not bundles
        return ImportErrorCollectionResponse(import_errors=[], total_entries=0)
    rows, total = await import_errors.list_import_errors(
        pool,
        principal.tenant_id,
        filename=filename,
        filename_pattern=filename_pattern,
        filename_prefix=filename_prefix_pattern,
        order_by=order_by,
        limit=page.limit,
        offset=page.offset,
    )
    return ImportErrorCollectionResponse(
        import_errors=[_response(r) for r in rows], total_entries=total
    )


@router.get("/{import_error_id}")
async def get_import_error(
    import_error_id: int, principal: Read, pool: PoolDep
) -> ImportErrorResponse:
    """One import error."""
    row = await import_errors.get_import_error(pool, principal.tenant_id, import_error_id)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"The ImportError with import_error_id: `{import_error_id}` was not found",
        )
    return _response(row)


@router.put(
    "",
    tags=["Leoflow"],
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": ImportErrorResponse, "description": "The file's error was updated"}},
)
async def report_import_error(
    body: ImportErrorReport, response: Response, principal: Report, pool: PoolDep
) -> ImportErrorResponse:
    """Record that a DAG file fails to compile (201 new, 200 when the file was known)."""
    row, created = await import_errors.upsert_import_error(
        pool, principal.tenant_id, body.filename, body.stack_trace, dag_id=body.dag_id
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _response(row)


@router.delete("", tags=["Leoflow"], status_code=status.HTTP_204_NO_CONTENT)
async def clear_import_errors(
    principal: Report,
    pool: PoolDep,
    filename: Annotated[str | None, Query(description="Clear this file's error")] = None,
    dag_id: Annotated[str | None, Query(description="Clear this DAG's errors")] = None,
    all_files: Annotated[
        bool, Query(alias="all", description="Clear every error (needed when neither is given)")
    ] = False,
) -> Response:
    """Forget the errors of a file that compiles again (or of a DAG, or all of them)."""
    if filename is None and dag_id is None and not all_files:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Name what to clear: ?filename=…, ?dag_id=…, or ?all=true for every import error",
        )
    await import_errors.clear_import_errors(
        pool, principal.tenant_id, filename=filename, dag_id=dag_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
