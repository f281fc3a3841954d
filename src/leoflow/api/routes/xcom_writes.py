"""``…/taskInstances/{task_id}/xcomEntries``: create, update and delete an XCom entry.

The value goes through the same XCom service as a task's push (:mod:`leoflow.xcom.edits`):
the size limit, JSON and the task's ``xcom_schema`` are checked, and the DAG's
``xcom_ttl_seconds`` applies. A refused value is 400 with the policy's reason (for a value too
large, the limit); writes need ``runs:edit`` (the User role, as Airflow's XCom writes do) and
are written to the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from leoflow.api.common.lookups import compiled_version, require_run
from leoflow.api.common.resources import get_catalog, get_pool, get_xcom_service
from leoflow.api.datamodels.xcom import XComCreateBody, XComResponseNative, XComUpdateBody
from leoflow.api.routes._audit import record_action
from leoflow.api.security import Permission, Principal, require
from leoflow.scheduler.dag_catalog import CompiledDag, DagCatalog
from leoflow.store.pool import Pool
from leoflow.store.run_queries import RunRow
from leoflow.xcom import RunScope, XComAddress, XComRejected, XComService
from leoflow.xcom.backend import StoredXCom
from leoflow.xcom.edits import (
    XComEntryExists,
    XComEntryMissing,
    create_entry,
    delete_entry,
    update_entry,
)

router = APIRouter(
    prefix="/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
    tags=["XCom"],
)

Edit = Annotated[Principal, Depends(require(Permission.RUNS_EDIT))]
PoolDep = Annotated[Pool, Depends(get_pool)]
CatalogDep = Annotated[DagCatalog, Depends(get_catalog)]
XComDep = Annotated[XComService, Depends(get_xcom_service)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The value is refused by the XCom policy (size, JSON, schema)"},
    404: {"description": "No such DAG run, task or XCom entry"},
}


async def _target(
    pool: Pool,
    catalog: DagCatalog,
    principal: Principal,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
) -> tuple[RunRow, CompiledDag]:
    """The run and its DAG version, once the task is known to be part of it."""
    run = await require_run(pool, principal, dag_id, run_id)
    compiled = await compiled_version(catalog, run.dag_version_id, dag_id)
    if task_id not in compiled.tasks:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"Task with ID: `{task_id}` not found in dag: `{dag_id}`"
        )
    return run, compiled


def _address(principal: Principal, run: RunRow, task_id: str, key: str, map_index: int) -> Any:
    return XComAddress(RunScope(principal.tenant, run.dag_id, run.id), task_id, key, map_index)


def _refused(exc: XComRejected) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, f"XCom refused ({exc.reason}): {exc.detail}")


def _answer(run: RunRow, stored: StoredXCom, value: Any) -> XComResponseNative:
    return XComResponseNative(
        key=stored.key,
        timestamp=stored.created_at,
        logical_date=run.logical_date,
        map_index=stored.map_index,
        task_id=stored.task_id,
        dag_id=run.dag_id,
        run_id=run.run_id,
        dag_display_name=run.dag_id,
        task_display_name=stored.task_id,
        run_after=run.run_after,
        value=value,
    )


@router.post("", status_code=status.HTTP_201_CREATED, responses={**_ERRORS, 409: {}})
async def create_xcom_entry(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: XComCreateBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
    xcom: XComDep,
) -> XComResponseNative:
    """Create an XCom entry (409 when the key already holds a live value)."""
    run, compiled = await _target(
        pool, catalog, principal, dag_id=dag_id, run_id=dag_run_id, task_id=task_id
    )
    address = _address(principal, run, task_id, body.key, body.map_index)
    try:
        stored = await create_entry(
            xcom,
            address,
            body.value,
            schema=compiled.tasks[task_id].xcom_schema,
            dag_ttl_seconds=compiled.spec.xcom_ttl_seconds,
        )
    except XComEntryExists:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"The XCom with key: `{body.key}` with mentioned task instance already exists.",
        ) from None
    except XComRejected as exc:
        raise _refused(exc) from None
    await record_action(
        request,
        principal,
        "create_xcom_entry",
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        key=stored.key,
        map_index=body.map_index,
    )
    return _answer(run, stored, body.value)


@router.patch("/{xcom_key}", responses=_ERRORS)
async def update_xcom_entry(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    body: XComUpdateBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
    xcom: XComDep,
) -> XComResponseNative:
    """Replace the value of an existing XCom entry."""
    run, compiled = await _target(
        pool, catalog, principal, dag_id=dag_id, run_id=dag_run_id, task_id=task_id
    )
    address = _address(principal, run, task_id, xcom_key, body.map_index)
    try:
        stored = await update_entry(
            xcom,
            address,
            body.value,
            schema=compiled.tasks[task_id].xcom_schema,
            dag_ttl_seconds=compiled.spec.xcom_ttl_seconds,
        )
    except XComEntryMissing:
        raise _missing(xcom_key) from None
    except XComRejected as exc:
        raise _refused(exc) from None
    await record_action(
        request,
        principal,
        "update_xcom_entry",
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        key=xcom_key,
        map_index=body.map_index,
    )
    return _answer(run, stored, body.value)


def _missing(xcom_key: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"The XCom with key: `{xcom_key}` with mentioned task instance doesn't exist.",
    )


@router.delete("/{xcom_key}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_xcom_entry(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
    xcom: XComDep,
    map_index: Annotated[int, Query(ge=-1)] = -1,
) -> Response:
    """Delete an XCom entry."""
    run, _ = await _target(
        pool, catalog, principal, dag_id=dag_id, run_id=dag_run_id, task_id=task_id
    )
    try:
        await delete_entry(xcom, _address(principal, run, task_id, xcom_key, map_index))
    except XComEntryMissing:
        raise _missing(xcom_key) from None
    except XComRejected as exc:
        raise _refused(exc) from None
    await record_action(
        request,
        principal,
        "delete_xcom_entry",
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        key=xcom_key,
        map_index=map_index,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
