"""``PATCH /dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances``: Airflow's bulk body for task
instances — update (mark with relatives, note) and delete, several at once.

An entity names its task instance by ``task_id`` (plus ``dag_id``/``dag_run_id`` when the path
says ``~``). An update runs exactly what ``PATCH …/taskInstances/{task_id}`` runs; a delete what
``DELETE …/taskInstances/{task_id}`` does. The answer lists, per action, the task instances
changed (``dag.run.task[map_index]``) and an error for each one that was not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status

from leoflow.api.bulk import (
    BulkActionNotOnExistence,
    BulkActionResponse,
    BulkBody,
    BulkCreateAction,
    BulkDeleteAction,
    BulkResponse,
    BulkUpdateAction,
)
from leoflow.api.common.parameters import WILDCARD
from leoflow.api.common.resources import get_catalog, get_pool
from leoflow.api.datamodels.task_instances import BulkTaskInstanceBody
from leoflow.api.routes._audit import record_action
from leoflow.api.routes.task_instances import apply_patch
from leoflow.api.security import Permission, Principal, require
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.store import ti_queries
from leoflow.store.pool import Pool
from leoflow.store.ti_queries import TiRow

router = APIRouter(prefix="/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}", tags=["Task Instance"])

TiKey = tuple[str, str, str, int]
"""``(dag_id, run_id, task_id, map_index)``."""


def _error(message: str, status_code: int) -> dict[str, object]:
    return {"error": message, "status_code": status_code}


def _name(key: TiKey) -> str:
    return f"{key[0]}.{key[1]}.{key[2]}[{key[3]}]"


class BulkTaskInstances:
    """One request's bulk actions on task instances."""

    def __init__(
        self,
        request: Request,
        principal: Principal,
        pool: Pool,
        catalog: DagCatalog,
        path: tuple[str, str],
    ) -> None:
        self.request = request
        self.principal = principal
        self.pool = pool
        self.catalog = catalog
        self.dag_id, self.run_id = path

    def key(self, entity: str | BulkTaskInstanceBody, result: BulkActionResponse) -> TiKey | None:
        """The task instance an entity names; ``None`` (with an error) when ``~`` is left."""
        if isinstance(entity, str):
            dag_id, run_id, task_id, map_index = self.dag_id, self.run_id, entity, None
        else:
            dag_id = entity.dag_id or self.dag_id
            run_id = entity.dag_run_id or self.run_id
            task_id, map_index = entity.task_id, entity.map_index
        if WILDCARD in (dag_id, run_id):
            result.errors.append(
                _error(
                    "When using wildcard in path, dag_id and dag_run_id must be specified in "
                    f"the BulkTaskInstanceBody object for task_id: {task_id}",
                    status.HTTP_400_BAD_REQUEST,
                )
            )
            return None
        return dag_id, run_id, task_id, -1 if map_index is None else map_index

    async def _find(self, key: TiKey) -> TiRow | None:
        dag_id, run_id, task_id, map_index = key
        return await ti_queries.get_task_instance(
            self.pool, self.principal.tenant_id, dag_id, run_id, task_id, map_index=map_index
        )

    async def _resolve(
        self,
        entities: list[str | BulkTaskInstanceBody],
        policy: BulkActionNotOnExistence,
        result: BulkActionResponse,
    ) -> list[tuple[TiKey, TiRow, str | BulkTaskInstanceBody]] | None:
        """The existing task instances the entities name; ``None`` when one is missing and the
        action must fail (nothing of the action is then applied)."""
        found: list[tuple[TiKey, TiRow, str | BulkTaskInstanceBody]] = []
        missing: list[TiKey] = []
        for entity in entities:
            key = self.key(entity, result)
            if key is None:
                continue
            row = await self._find(key)
            if row is None:
                missing.append(key)
            else:
                found.append((key, row, entity))
        if missing and policy is BulkActionNotOnExistence.FAIL:
            names = [
                {"dag_id": k[0], "dag_run_id": k[1], "task_id": k[2], "map_index": k[3]}
                for k in missing
            ]
            result.errors.append(
                _error(
                    f"The task instances with these identifiers: {names} were not found",
                    status.HTTP_404_NOT_FOUND,
                )
            )
            return None
        return found

    async def update(
        self, action: BulkUpdateAction[BulkTaskInstanceBody], result: BulkActionResponse
    ) -> None:
        """Mark and/or annotate each task instance as its single PATCH would."""
        found = await self._resolve(list(action.entities), action.action_on_non_existence, result)
        for key, _, entity in found or []:
            assert isinstance(entity, BulkTaskInstanceBody)
            try:
                await apply_patch(
                    request=self.request,
                    principal=self.principal,
                    pool=self.pool,
                    catalog=self.catalog,
                    dag_id=key[0],
                    run_id=key[1],
                    task_id=key[2],
                    map_index=key[3],
                    body=entity.patch_body(),
                    update_mask=action.update_mask,
                    dry_run=False,
                )
            except HTTPException as exc:
                result.errors.append(_error(str(exc.detail), exc.status_code))
                continue
            result.success.append(_name(key))

    async def delete(
        self, action: BulkDeleteAction[BulkTaskInstanceBody], result: BulkActionResponse
    ) -> None:
        """Delete each task instance with its tries."""
        found = await self._resolve(list(action.entities), action.action_on_non_existence, result)
        for key, row, _ in found or []:
            if await ti_queries.delete_task_instance(self.pool, row.id):
                result.success.append(_name(key))


@router.patch("/taskInstances")
async def bulk_task_instances(
    *,
    dag_id: str,
    dag_run_id: str,
    body: BulkBody[BulkTaskInstanceBody],
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.RUNS_EDIT))],
    pool: Annotated[Pool, Depends(get_pool)],
    catalog: Annotated[DagCatalog, Depends(get_catalog)],
) -> BulkResponse:
    """Bulk update and delete task instances (creating them is the scheduler's job)."""
    bulk = BulkTaskInstances(request, principal, pool, catalog, (dag_id, dag_run_id))
    results: dict[str, BulkActionResponse] = {}
    for action in body.actions:
        result = results.setdefault(action.action.value, BulkActionResponse())
        if isinstance(action, BulkCreateAction):
            result.errors.append(
                _error(
                    "Task instances bulk create is not supported",
                    status.HTTP_405_METHOD_NOT_ALLOWED,
                )
            )
        elif isinstance(action, BulkDeleteAction):
            await bulk.delete(action, result)
        else:
            await bulk.update(action, result)
    await record_action(
        request,
        principal,
        "bulk_task_instances",
        dag_id=dag_id,
        run_id=dag_run_id,
        **{kind: sorted(res.success) for kind, res in results.items()},
    )
    return BulkResponse(**results)
