"""``…/taskInstances/{task_id}/xcomEntries``: read and list XCom entries (``~`` for any DAG,
run or task), straight from the stored values: the ``xcom`` table, or the configured XCom
backend (Redis in Pro) for the runs a request can match."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from leoflow.api.common.parameters import (
    WILDCARD,
    OrderTerms,
    Page,
    datetime_range,
    pagination,
    sort_param,
)
from leoflow.api.common.resources import get_pool, get_xcom_service
from leoflow.api.datamodels.xcom import (
    XComCollectionResponse,
    XComResponseNative,
    XComResponseString,
)
from leoflow.api.security import Permission, Principal, require
from leoflow.api.translate import xcom_entry_response, xcom_response
from leoflow.store import xcom_queries
from leoflow.store._filters import Range
from leoflow.store.pool import Pool
from leoflow.store.xcom_queries import BackendValue, XcomFilter
from leoflow.xcom import RunScope

router = APIRouter(
    prefix="/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
    tags=["XCom"],
)

_SORTABLE = ("key", "dag_id", "run_id", "task_id", "map_index", "timestamp", "run_after")

Read = Annotated[Principal, Depends(require(Permission.XCOM_READ))]
PoolDep = Annotated[Pool, Depends(get_pool)]
DateRange = Range[datetime]


MAX_BACKEND_RUNS = 200
"""Most runs one XCom list reads from a backend other than the ``xcom`` table."""


def _exact(value: str) -> str | None:
    return None if value == WILDCARD else value


async def _backend_values(
    request: Request, pool: Pool, tenant_id: UUID, flt: XcomFilter
) -> list[BackendValue] | None:
    """The live values of the runs ``flt`` can match when XComs are kept outside the ``xcom``
    table (``None`` when the table is the store: SQL reads it directly)."""
    service = get_xcom_service(request)
    if service.backend.name == "postgres":
        return None
    runs = await xcom_queries.runs_for_xcom(pool, tenant_id, flt, limit=MAX_BACKEND_RUNS)
    if len(runs) > MAX_BACKEND_RUNS:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"this listing spans more than {MAX_BACKEND_RUNS} DAG runs, and XComs are kept in "
            f"{service.backend.name}, which is read run by run: name the DAG and the run, or "
            "narrow it with run_id_pattern, logical_date or run_after",
        )
    values: list[BackendValue] = []
    for run in runs:
        for stored in await service.list_run(RunScope(run.tenant, run.dag_id, run.run_uuid)):
            values.append(
                BackendValue(
                    run.run_uuid,
                    stored.task_id,
                    stored.map_index,
                    stored.key,
                    stored.value,
                    stored.content_type,
                    stored.created_at,
                    stored.expires_at,
                )
            )
    return values


@router.get("")
async def get_xcom_entries(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    request: Request,
    *,
    principal: Read,
    pool: PoolDep,
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(_SORTABLE, "dag_id"))],
    logical_date: Annotated[DateRange, Depends(datetime_range("logical_date"))],
    run_after: Annotated[DateRange, Depends(datetime_range("run_after"))],
    xcom_key: str | None = None,
    map_index: Annotated[int | None, Query(ge=-1)] = None,
    map_index_filter: int | None = None,
    xcom_key_pattern: str | None = None,
    xcom_key_prefix_pattern: str | None = None,
    dag_display_name_pattern: str | None = None,
    dag_display_name_prefix_pattern: str | None = None,
    run_id_pattern: str | None = None,
    run_id_prefix_pattern: str | None = None,
    task_id_pattern: str | None = None,
    task_id_prefix_pattern: str | None = None,
) -> XComCollectionResponse:
    """Get XCom entries; ``~`` as the DAG, run or task id lists across them."""
    flt = XcomFilter(
        dag_id=_exact(dag_id),
        run_id=_exact(dag_run_id),
        task_id=_exact(task_id),
        key=xcom_key,
        map_index=map_index if map_index is not None else map_index_filter,
        key_pattern=xcom_key_pattern,
        key_prefix=xcom_key_prefix_pattern,
        dag_id_pattern=dag_display_name_pattern,
        dag_id_prefix=dag_display_name_prefix_pattern,
        run_id_pattern=run_id_pattern,
        run_id_prefix=run_id_prefix_pattern,
        task_id_pattern=task_id_pattern,
        task_id_prefix=task_id_prefix_pattern,
        logical_date=logical_date,
        run_after=run_after,
    )
    terms = order_by if order_by != [("dag_id", False)] else _DEFAULT_ORDER
    values = await _backend_values(request, pool, principal.tenant_id, flt)
    rows, total = await xcom_queries.list_xcoms(
        pool,
        principal.tenant_id,
        flt,
        order_by=terms,
        limit=page.limit,
        offset=page.offset,
        values=values,
    )
    return XComCollectionResponse(
        xcom_entries=[xcom_response(r) for r in rows], total_entries=total
    )


_DEFAULT_ORDER = [
    ("dag_id", False),
    ("task_id", False),
    ("run_id", False),
    ("map_index", False),
    ("key", False),
]
"""Airflow's default order of XCom lists."""


@router.get("/{xcom_key}", response_model=XComResponseNative | XComResponseString)
async def get_xcom_entry(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    request: Request,
    *,
    principal: Read,
    pool: PoolDep,
    map_index: Annotated[int, Query(ge=-1)] = -1,
    deserialize: bool = False,
    stringify: bool = False,
) -> XComResponseNative | XComResponseString:
    """Get one XCom entry with its value (JSON, or text with ``stringify``).

    Values are stored as JSON, so ``deserialize`` changes nothing: the value is always
    answered decoded.
    """
    flt = XcomFilter(dag_id=dag_id, run_id=dag_run_id)
    values = await _backend_values(request, pool, principal.tenant_id, flt)
    row = await xcom_queries.get_xcom(
        pool,
        principal.tenant_id,
        dag_id,
        dag_run_id,
        task_id,
        key=xcom_key,
        map_index=map_index,
        values=values,
    )
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"XCom entry with key: `{xcom_key}` not found"
        )
    return xcom_entry_response(row, stringify=stringify)
