"""``/api/v2/dags/{dag_id}/tasks``: the tasks of a DAG's latest version, from its spec."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status

from leoflow.api.common.lookups import latest_compiled
from leoflow.api.common.resources import get_catalog, get_pool
from leoflow.api.datamodels.tasks import TaskCollectionResponse, TaskResponse
from leoflow.api.security import Permission, Principal, require
from leoflow.api.translate import task_response
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.store.pool import Pool

router = APIRouter(prefix="/api/v2/dags/{dag_id}/tasks", tags=["Task"])

_SORTABLE = frozenset(TaskResponse.model_fields)

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
PoolDep = Annotated[Pool, Depends(get_pool)]
CatalogDep = Annotated[DagCatalog, Depends(get_catalog)]


def _sort_key(name: str) -> Any:
    def key(task: TaskResponse) -> tuple[bool, Any]:
        value = getattr(task, name)
        if isinstance(value, list | dict):
            value = str(value)
        return (value is None, value if value is not None else 0)

    return key


@router.get("")
async def get_tasks(
    dag_id: str, principal: Read, pool: PoolDep, catalog: CatalogDep, order_by: str = "task_id"
) -> TaskCollectionResponse:
    """Get the tasks of a DAG, sorted by any attribute (``-`` for descending)."""
    _, compiled = await latest_compiled(pool, catalog, principal, dag_id)
    name = order_by.lstrip("-")
    if name not in _SORTABLE:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"Ordering with '{name}' is disallowed or the attribute does not exist on the model",
        )
    spec = compiled.spec
    tasks = sorted(
        (task_response(spec, task) for task in spec.tasks),
        key=_sort_key(name),
        reverse=order_by.startswith("-"),
    )
    return TaskCollectionResponse(tasks=tasks, total_entries=len(tasks))


@router.get("/{task_id}")
async def get_task(
    dag_id: str, task_id: str, principal: Read, pool: PoolDep, catalog: CatalogDep
) -> TaskResponse:
    """Get one task of a DAG."""
    _, compiled = await latest_compiled(pool, catalog, principal, dag_id)
    task = compiled.tasks.get(task_id)
    if task is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Task with id {task_id} was not found")
    return task_response(compiled.spec, task)
