"""One try as the agent service sees it: the task instance with its run, DAG and tenant.

Agents name their task instance by its human identity (tenant, dag_id, run_id, task_id,
map_index — the claims of their token); every agent call resolves it here in one query, so the
answer always reflects the database (a clear or a mark by an operator is seen at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row

from leoflow.states import TaskState
from leoflow.store import connections
from leoflow.store.pool import Database, single_statement


@dataclass(frozen=True)
class TaskTry:
    """The current try of a task instance and the run context it executes in."""

    ti_id: UUID
    run_uuid: UUID
    dag_uuid: UUID
    tenant_id: UUID
    tenant: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: TaskState
    try_number: int
    max_tries: int
    start_date: datetime | None
    dag_version_id: UUID
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_type: str
    conf: dict[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TaskState(self.state))


_FIND = """
    SELECT ti.id AS ti_id, ti.run_uuid, r.dag_uuid, d.tenant_id, t.name AS tenant, d.dag_id,
           r.run_id, ti.task_id, ti.map_index, ti.state, ti.try_number, ti.max_tries,
           ti.start_date, r.dag_version_id, r.logical_date, r.data_interval_start,
           r.data_interval_end, r.run_type, r.conf
    FROM task_instances ti
    JOIN dag_runs r ON r.id = ti.run_uuid
    JOIN dags d ON d.id = r.dag_uuid
    JOIN tenants t ON t.id = d.tenant_id
"""


async def find_task_try(
    db: Database, tenant: str, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1
) -> TaskTry | None:
    """The task instance named by its human identity, or ``None`` when it does not exist."""
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(TaskTry))
        await cur.execute(
            _FIND + "WHERE t.name = %s AND d.dag_id = %s AND r.run_id = %s "
            "AND ti.task_id = %s AND ti.map_index = %s",
            (tenant, dag_id, run_id, task_id, map_index),
        )
        return await cur.fetchone()


async def get_task_try(db: Database, ti_id: UUID) -> TaskTry | None:
    """The same view, by task instance id (what executors hold)."""
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(TaskTry))
        await cur.execute(_FIND + "WHERE ti.id = %s", (ti_id,))
        return await cur.fetchone()


async def archived_try_state(db: Database, ti_id: UUID, try_number: int) -> TaskState | None:
    """How an earlier try ended, from ``task_instance_history`` (``None`` if not archived)."""
    async with single_statement(db) as conn:
        cur = await conn.execute(
            "SELECT state FROM task_instance_history "
            "WHERE task_instance_id = %s AND try_number = %s",
            (ti_id, try_number),
        )
        row = await cur.fetchone()
    return None if row is None else TaskState(row[0])


async def tenant_name_of_run(db: Database, run_uuid: UUID) -> str:
    """The name of the tenant a run belongs to (agent tokens carry names, not ids)."""
    async with single_statement(db) as conn:
        cur = await conn.execute(
            "SELECT t.name FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid "
            "JOIN tenants t ON t.id = d.tenant_id WHERE r.id = %s",
            (run_uuid,),
        )
        row = await cur.fetchone()
    if row is None:
        raise LookupError(f"run {run_uuid} does not exist")
    return str(row[0])


async def list_all_variables(db: Database, tenant_id: UUID) -> list[tuple[str, str | None, bool]]:
    """Every variable of a tenant as ``(key, stored value, is_encrypted)`` (delivered to its
    tasks once opened)."""
    async with single_statement(db) as conn:
        cur = await conn.execute(
            "SELECT key, value, is_encrypted FROM variables WHERE tenant_id = %s ORDER BY key",
            (tenant_id,),
        )
        return [(str(r[0]), r[1], bool(r[2])) for r in await cur.fetchall()]


async def list_all_connections(db: Database, tenant_id: UUID) -> list[connections.Connection]:
    """Every connection of a tenant, secrets still sealed (delivered to its tasks)."""
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(connections.Connection))
        await cur.execute(
            f"SELECT {connections.COLUMNS} FROM connections WHERE tenant_id = %s ORDER BY conn_id",
            (tenant_id,),
        )
        return await cur.fetchall()


async def keep_queued(db: Database, ti_id: UUID, try_number: int) -> bool:
    """Restart the dispatch-lost clock of a queued try that is waiting on its executor (a
    venv being built, all slots busy): it is not lost, only waiting. ``False`` when the try
    is no longer queued."""
    async with single_statement(db) as conn:
        cur = await conn.execute(
            "UPDATE task_instances SET queued_at = now() "
            "WHERE id = %s AND try_number = %s AND state = 'queued' RETURNING id",
            (ti_id, try_number),
        )
        return await cur.fetchone() is not None


async def current_try_states(db: Database, ti_ids: list[UUID]) -> dict[UUID, tuple[TaskState, int]]:
    """State and try number of each task instance (for executors watching their launches)."""
    if not ti_ids:
        return {}
    async with single_statement(db) as conn:
        cur = await conn.execute(
            "SELECT id, state, try_number FROM task_instances WHERE id = ANY(%s::uuid[])",
            (ti_ids,),
        )
        return {row[0]: (TaskState(row[1]), int(row[2])) for row in await cur.fetchall()}
