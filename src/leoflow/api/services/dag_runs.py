"""Operator actions on DAG runs as Airflow's API shapes them: clearing one run (shared by
``POST …/dagRuns/{run}/clear`` and ``POST /dags/{dag}/clearDagRuns``) and the bulk
``PATCH /dags/{dag}/dagRuns`` (mark/annotate and delete, one entity at a time).

Every write goes through the single-run operations (:mod:`leoflow.scheduler.operations`,
:mod:`leoflow.store.run_queries`), so a bulk change is exactly a series of single changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import status

from leoflow.api.bulk import (
    BulkActionNotOnExistence,
    BulkActionResponse,
    BulkDeleteAction,
    BulkUpdateAction,
)
from leoflow.api.common.parameters import WILDCARD
from leoflow.api.datamodels.dag_run import BulkDAGRunBody, DagRunMutableStates
from leoflow.api.log_reader import LogReader
from leoflow.api.security import Principal
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.operations import (
    ClearRequest,
    OperationError,
    clear_task_instances,
    set_dag_run_state,
)
from leoflow.states import RunState
from leoflow.store import run_queries, ti_queries
from leoflow.store.pool import Pool
from leoflow.store.run_queries import RunRow
from leoflow.store.ti_queries import TiRow

RunKey = tuple[str, str]
"""``(dag_id, run_id)``: how a bulk entity names a run."""


@dataclass(frozen=True)
class RunClear:
    """The options of clearing one whole run."""

    only_failed: bool = False
    only_new: bool = False
    dry_run: bool = True
    note: str | None = None


async def clear_run(
    pool: Pool, catalog: DagCatalog, principal: Principal, run: RunRow, options: RunClear
) -> list[TiRow]:
    """Clear one run on its DAG's latest version; the task instances that would be (dry run)
    or were reset. ``only_new`` resets none: the re-queued run gets the new tasks only.

    :class:`~leoflow.scheduler.operations.OperationError` when the run cannot be cleared.
    """
    request = ClearRequest(
        task_ids=frozenset() if options.only_new else None,
        only_failed=options.only_failed,
        dry_run=options.dry_run,
    )
    result = await clear_task_instances(pool, catalog, run.id, request)
    if not options.dry_run and options.note is not None:
        await run_queries.set_run_note(pool, run.id, options.note or None)
    return await ti_queries.get_task_instances_by_id(
        pool, principal.tenant_id, [ti.id for ti in result.cleared]
    )


def _error(message: str, status_code: int) -> dict[str, object]:
    return {"error": message, "status_code": status_code}


def run_key(entity: str | BulkDAGRunBody, path_dag_id: str) -> RunKey | str:
    """The run an entity names, or why it names none (``~`` in the path needs a ``dag_id``)."""
    if isinstance(entity, str):
        dag_id, run_id = path_dag_id, entity
    else:
        dag_id, run_id = entity.dag_id or path_dag_id, entity.dag_run_id
    if WILDCARD in (dag_id, run_id):
        shown = entity if isinstance(entity, str) else entity.dag_run_id
        return (
            "When using wildcard in path, dag_id must be specified in the BulkDAGRunBody "
            f"object for dag_run_id: {shown}"
        )
    return dag_id, run_id


class BulkDagRuns:
    """``PATCH /dags/{dag_id}/dagRuns``: one caller, one path, several actions."""

    def __init__(self, pool: Pool, principal: Principal, path_dag_id: str, logs: LogReader) -> None:
        self.pool = pool
        self.principal = principal
        self.path_dag_id = path_dag_id
        self.logs = logs

    async def _existing(self, keys: set[RunKey]) -> dict[RunKey, RunRow]:
        found: dict[RunKey, RunRow] = {}
        for dag_id, run_id in sorted(keys):
            row = await run_queries.get_run(self.pool, self.principal.tenant_id, dag_id, run_id)
            if row is not None:
                found[(dag_id, run_id)] = row
        return found

    def _keys(
        self, entities: list[str | BulkDAGRunBody], result: BulkActionResponse
    ) -> dict[RunKey, str | BulkDAGRunBody]:
        keyed: dict[RunKey, str | BulkDAGRunBody] = {}
        for entity in entities:
            key = run_key(entity, self.path_dag_id)
            if isinstance(key, str):
                result.errors.append(_error(key, status.HTTP_400_BAD_REQUEST))
            else:
                keyed[key] = entity
        return keyed

    @staticmethod
    def _missing_error(
        missing: set[RunKey], policy: BulkActionNotOnExistence, result: BulkActionResponse
    ) -> bool:
        if missing and policy is BulkActionNotOnExistence.FAIL:
            result.errors.append(
                _error(
                    f"The DagRuns with these identifiers: {sorted(missing)} were not found",
                    status.HTTP_404_NOT_FOUND,
                )
            )
            return True
        return False

    async def update(
        self, action: BulkUpdateAction[BulkDAGRunBody], result: BulkActionResponse
    ) -> None:
        """Mark runs (``state``) and/or set their notes; ``update_mask`` limits the fields."""
        keyed = self._keys(list(action.entities), result)
        existing = await self._existing(set(keyed))
        if self._missing_error(set(keyed) - set(existing), action.action_on_non_existence, result):
            return
        fields = set(action.update_mask) if action.update_mask else {"state", "note"}
        for key, row in existing.items():
            entity = keyed[key]
            assert isinstance(entity, BulkDAGRunBody)
            try:
                if "note" in fields and entity.note is not None:
                    await run_queries.set_run_note(self.pool, row.id, entity.note or None)
                if "state" in fields and entity.state is not None:
                    await set_dag_run_state(self.pool, row.id, RunState(entity.state.value))
            except OperationError as exc:
                result.errors.append(_error(str(exc), status.HTTP_400_BAD_REQUEST))
                continue
            result.success.append(f"{key[0]}.{key[1]}")

    async def delete(
        self, action: BulkDeleteAction[BulkDAGRunBody], result: BulkActionResponse
    ) -> None:
        """Delete runs with their task instances, XComs and logs (not while running)."""
        keyed = self._keys(list(action.entities), result)
        existing = await self._existing(set(keyed))
        if self._missing_error(set(keyed) - set(existing), action.action_on_non_existence, result):
            return
        deletable = {s.value for s in DagRunMutableStates}
        for (dag_id, run_id), row in sorted(existing.items()):
            if row.state not in deletable:
                result.errors.append(
                    _error(
                        f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` cannot be "
                        f"deleted in {row.state} state",
                        status.HTTP_409_CONFLICT,
                    )
                )
                continue
            await run_queries.delete_run(self.pool, row.id)
            await self.logs.delete_run(self.principal.tenant, dag_id, run_id)
            result.success.append(f"{dag_id}.{run_id}")
