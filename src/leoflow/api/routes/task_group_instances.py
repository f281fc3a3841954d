"""``PATCH …/dagRuns/{dag_run_id}/taskGroupInstances/{group_id}`` (and ``…/dry_run``): mark
every task instance of a TaskGroup in a run, and/or set their notes.

The group's members come from the DAG's latest version (:mod:`leoflow.scheduler.task_groups`);
the mark follows the single task instance's rules (relatives, past and future runs), applied to
all members at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from leoflow.api.common.lookups import latest_compiled, require_run
from leoflow.api.common.resources import get_catalog, get_pool
from leoflow.api.datamodels.task_instances import (
    PatchTaskInstanceBody,
    TaskInstanceCollectionResponse,
)
from leoflow.api.routes._audit import record_action
from leoflow.api.security import Permission, Principal, require
from leoflow.api.services.task_instances import (
    RunScope,
    SelectionError,
    apply_mark,
    select_tasks_for_mark,
)
from leoflow.api.translate import task_instance_response
from leoflow.scheduler.dag_catalog import CompiledDag, DagCatalog
from leoflow.scheduler.task_groups import group_ids, group_members
from leoflow.store import ti_queries
from leoflow.store.pool import Pool
from leoflow.store.run_queries import RunRow
from leoflow.store.ti_queries import TiFilter, TiRow

router = APIRouter(
    prefix="/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskGroupInstances/{group_id}",
    tags=["Task Instance"],
)

Edit = Annotated[Principal, Depends(require(Permission.RUNS_EDIT))]
PoolDep = Annotated[Pool, Depends(get_pool)]
CatalogDep = Annotated[DagCatalog, Depends(get_catalog)]


def _collection(rows: list[TiRow]) -> TaskInstanceCollectionResponse:
    return TaskInstanceCollectionResponse(
        task_instances=[task_instance_response(r) for r in rows], total_entries=len(rows)
    )


async def _group(
    pool: Pool,
    catalog: DagCatalog,
    principal: Principal,
    *,
    dag_id: str,
    run_id: str,
    group_id: str,
) -> tuple[CompiledDag, RunRow, list[TiRow]]:
    """The DAG's latest version, the run and the group's task instances in it (404s as
    Airflow answers them)."""
    _, compiled = await latest_compiled(pool, catalog, principal, dag_id)
    members = group_members(compiled.spec.task_ids, group_id)
    if not members:
        known = ", ".join(sorted(group_ids(compiled.spec.task_ids))) or "none"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"Task group '{group_id}' not found in DAG '{dag_id}' (its task groups: {known})",
        )
    run = await require_run(pool, principal, dag_id, run_id)
    rows, _ = await ti_queries.list_task_instances(
        pool,
        principal.tenant_id,
        TiFilter(dag_ids=[dag_id], run_ids=[run_id], task_ids=members),
        order_by=(("task_id", False), ("map_index", False)),
        limit=None,
    )
    if not rows:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"No task instances found for task group '{group_id}' in dag run '{run_id}'",
        )
    return compiled, run, rows


async def _selection(
    pool: Pool,
    principal: Principal,
    group: tuple[CompiledDag, RunRow, list[TiRow]],
    body: PatchTaskInstanceBody,
) -> list[TiRow]:
    """The task instances the mark in ``body`` would change."""
    assert body.new_state is not None
    compiled, run, rows = group
    scope = RunScope(
        dag_uuid=run.dag_uuid,
        run_uuid=run.id,
        logical_date=run.logical_date,
        include_past=body.include_past,
        include_future=body.include_future,
    )
    try:
        return await select_tasks_for_mark(
            pool,
            principal.tenant_id,
            compiled.spec,
            run.dag_id,
            [r.task_id for r in rows],
            scope,
            state=body.new_state.value,
            upstream=body.include_upstream,
            downstream=body.include_downstream,
        )
    except SelectionError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


@router.patch("/dry_run")
async def patch_task_group_instances_dry_run(
    *,
    dag_id: str,
    dag_run_id: str,
    group_id: str,
    body: PatchTaskInstanceBody,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
) -> TaskInstanceCollectionResponse:
    """The task instances a mark of the group would change (the group's, without a state)."""
    group = await _group(
        pool, catalog, principal, dag_id=dag_id, run_id=dag_run_id, group_id=group_id
    )
    rows = group[2]
    if body.new_state is None:
        return _collection(rows)
    return _collection(await _selection(pool, principal, group, body))


@router.patch("")
async def patch_task_group_instances(
    *,
    dag_id: str,
    dag_run_id: str,
    group_id: str,
    body: PatchTaskInstanceBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: CatalogDep,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> TaskInstanceCollectionResponse:
    """Mark every task instance of the group (409 when all are in that state already) and/or
    set their notes; answers the task instances changed (or the group's, for a note)."""
    group = await _group(
        pool, catalog, principal, dag_id=dag_id, run_id=dag_run_id, group_id=group_id
    )
    rows = group[2]
    fields = set(body.model_fields_set)
    if update_mask:
        fields &= set(update_mask)
    if "note" in fields:
        await ti_queries.set_notes(pool, [r.id for r in rows], body.note or None)
    changed = [r.id for r in rows]
    if "new_state" in fields and body.new_state is not None:
        selected = await _selection(pool, principal, group, body)
        changed = await apply_mark(pool, selected, body.new_state.value)
        if not changed:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"All task instances in the group are already in {body.new_state.value} state",
            )
    await record_action(
        request,
        principal,
        "patch_task_group_instances",
        dag_id=dag_id,
        run_id=dag_run_id,
        group_id=group_id,
        fields=sorted(fields),
    )
    return _collection(
        await ti_queries.get_task_instances_by_id(pool, principal.tenant_id, changed)
    )
