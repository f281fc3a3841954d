"""Several runs at once: ``PATCH /dags/{dag_id}/dagRuns`` (Airflow's bulk body: mark, annotate,
delete) and ``POST /dags/{dag_id}/clearDagRuns``.

``~`` as the DAG id lets the entities name runs of several DAGs (each entity then carries its
``dag_id``). Each entity takes the path of its single-run counterpart; the answer reports, per
action, which runs succeeded and why the others did not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status

from leoflow.api.bulk import (
    BulkActionResponse,
    BulkBody,
    BulkCreateAction,
    BulkDeleteAction,
    BulkResponse,
)
from leoflow.api.common.lookups import require_run
from leoflow.api.common.parameters import WILDCARD
from leoflow.api.common.resources import get_catalog, get_log_reader, get_pool
from leoflow.api.datamodels.dag_run import (
    BulkDAGRunBody,
    BulkDAGRunClearBody,
    DAGRunCollectionResponse,
)
from leoflow.api.datamodels.task_instances import ClearTaskInstanceCollectionResponse
from leoflow.api.log_reader import LogReader
from leoflow.api.routes._audit import record_action
from leoflow.api.security import Permission, Principal, require
from leoflow.api.services.dag_runs import BulkDagRuns, RunClear, RunKey, clear_run
from leoflow.api.translate import dag_run_response, task_instance_response
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.operations import OperationError
from leoflow.store import run_queries
from leoflow.store.pool import Pool
from leoflow.store.ti_queries import TiRow

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["DagRun"])

Edit = Annotated[Principal, Depends(require(Permission.RUNS_EDIT))]
PoolDep = Annotated[Pool, Depends(get_pool)]

NO_PARTITIONS = (
    "Leoflow does not support partitioned runs: its runs have no partition_key or "
    "partition_date. Name the runs to clear in dag_runs."
)


@router.patch("/dagRuns")
async def bulk_dag_runs(
    *,
    dag_id: str,
    body: BulkBody[BulkDAGRunBody],
    request: Request,
    principal: Edit,
    pool: PoolDep,
    logs: Annotated[LogReader, Depends(get_log_reader)],
) -> BulkResponse:
    """Bulk update (state, note) or delete DAG runs; creating runs is the trigger endpoint's."""
    bulk = BulkDagRuns(pool, principal, dag_id, logs)
    results: dict[str, BulkActionResponse] = {}
    for action in body.actions:
        result = results.setdefault(action.action.value, BulkActionResponse())
        if isinstance(action, BulkCreateAction):
            result.errors.append(
                {
                    "error": "Dag Runs bulk create is not supported. Use the trigger Dag Run "
                    "endpoint instead.",
                    "status_code": status.HTTP_405_METHOD_NOT_ALLOWED,
                }
            )
        elif isinstance(action, BulkDeleteAction):
            await bulk.delete(action, result)
        else:
            await bulk.update(action, result)
    await record_action(
        request,
        principal,
        "bulk_dag_runs",
        dag_id=dag_id,
        **{kind: sorted(res.success) for kind, res in results.items()},
    )
    return BulkResponse(**results)


def _runs_to_clear(dag_id: str, body: BulkDAGRunClearBody) -> list[RunKey]:
    """The runs the body names, in order, once each (Airflow's checks on ``dag_id``)."""
    if not body.dag_runs and body.has_partition_selectors:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, NO_PARTITIONS)
    keys: dict[RunKey, None] = {}
    for entry in body.dag_runs:
        if dag_id == WILDCARD:
            if not entry.dag_id or entry.dag_id == WILDCARD:
                raise HTTPException(
                    status.HTTP_400_BAD_REQUEST,
                    "When the URL dag_id is '~', every entry must provide a concrete dag_id "
                    f"(missing on dag_run_id: {entry.dag_run_id!r}).",
                )
            keys[(entry.dag_id, entry.dag_run_id)] = None
        else:
            entry_dag_id = entry.dag_id or dag_id
            if entry_dag_id != dag_id:
                raise HTTPException(
                    status.HTTP_400_BAD_REQUEST,
                    f"Entry dag_id {entry_dag_id!r} does not match the URL dag_id {dag_id!r}.",
                )
            keys[(dag_id, entry.dag_run_id)] = None
    return list(keys)


@router.post("/clearDagRuns", response_model=None)
async def clear_dag_runs(
    *,
    dag_id: str,
    body: BulkDAGRunClearBody,
    request: Request,
    principal: Edit,
    pool: PoolDep,
    catalog: Annotated[DagCatalog, Depends(get_catalog)],
) -> ClearTaskInstanceCollectionResponse | DAGRunCollectionResponse:
    """Clear several runs as ``…/dagRuns/{run}/clear`` clears one.

    ``dry_run`` (the default) answers every task instance that would be reset; otherwise the
    cleared runs are answered. Every named run must exist (404 before anything is cleared).
    """
    runs = [
        await require_run(pool, principal, run_dag_id, run_id)
        for run_dag_id, run_id in _runs_to_clear(dag_id, body)
    ]
    options = RunClear(
        only_failed=body.only_failed,
        only_new=body.only_new,
        dry_run=body.dry_run,
        note=body.note,
    )
    affected: list[TiRow] = []
    try:
        for run in runs:
            affected.extend(await clear_run(pool, catalog, principal, run, options))
    except OperationError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if body.dry_run:
        return ClearTaskInstanceCollectionResponse(
            task_instances=[task_instance_response(r) for r in affected],
            total_entries=len(affected),
        )
    await record_action(
        request,
        principal,
        "clear_dag_runs",
        dag_id=dag_id,
        runs=[f"{run.dag_id}.{run.run_id}" for run in runs],
    )
    cleared = [await run_queries.get_run_by_uuid(pool, principal.tenant_id, run.id) for run in runs]
    rows = [row for row in cleared if row is not None]
    return DAGRunCollectionResponse(
        dag_runs=[dag_run_response(r) for r in rows], total_entries=len(rows)
    )
