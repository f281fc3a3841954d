"""Read model of task instances for the API: across runs and DAGs (Airflow's ``~``), their
tries (current and archived), and the API's writes that are not state moves (notes, deletion).

Each row carries its run's identity and DAG version and the task's ``type`` from that version's
spec, which is what Airflow calls the operator. State moves go through
:mod:`leoflow.scheduler.operations`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row

from leoflow.store._filters import Range, Where
from leoflow.store._listing import OrderBy, order_clause
from leoflow.store.pool import Database, acquire

_TASK_TYPE = (
    "(SELECT t->>'type' FROM jsonb_array_elements(v.spec->'tasks') AS t "
    "WHERE t->>'task_id' = ti.task_id LIMIT 1)"
)

SORT_COLUMNS: Mapping[str, str] = {
    "id": "ti.created_at",
    "state": "ti.state",
    "duration": "ti.duration",
    "start_date": "ti.start_date",
    "end_date": "ti.end_date",
    "map_index": "ti.map_index",
    "try_number": "ti.try_number",
    "logical_date": "r.logical_date",
    "run_after": "r.run_after",
    "data_interval_start": "r.data_interval_start",
    "data_interval_end": "r.data_interval_end",
    "rendered_map_index": "ti.map_index",
    "operator": _TASK_TYPE,
    "task_id": "ti.task_id",
    "dag_id": "d.dag_id",
    "run_id": "r.run_id",
    "dag_run_id": "r.run_id",
    "queued_dttm": "ti.queued_at",
    "executor": "ti.executor",
    "hostname": "ti.hostname",
}
"""Attributes a task-instance list can be ordered by (Airflow's names) and their SQL."""

_RUN_COLUMNS = """
    d.dag_id, d.id AS dag_uuid, d.tenant_id, r.run_id, r.logical_date, r.run_after,
    r.data_interval_start, r.data_interval_end, r.dag_version_id, v.version_number,
    v.created_at AS version_created_at
"""
_FROM = """
    FROM task_instances ti
    JOIN dag_runs r ON r.id = ti.run_uuid
    JOIN dags d ON d.id = r.dag_uuid
    JOIN dag_versions v ON v.id = r.dag_version_id
"""
_SELECT = f"""
    SELECT ti.id, ti.run_uuid, ti.task_id, ti.map_index, ti.state, ti.try_number, ti.max_tries,
           ti.queued_at, ti.start_date, ti.end_date, ti.duration, ti.executor, ti.hostname,
           ti.pid, ti.note, ti.rendered_fields, ti.created_at, ti.updated_at,
           {_TASK_TYPE} AS task_type, {_RUN_COLUMNS}
    {_FROM}
"""


@dataclass(frozen=True)
class TiRow:
    """A task instance (its current try) with its run, DAG and DAG version."""

    id: UUID
    run_uuid: UUID
    task_id: str
    map_index: int
    state: str
    try_number: int
    max_tries: int
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    executor: str | None
    hostname: str | None
    pid: int | None
    note: str | None
    rendered_fields: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    task_type: str | None
    dag_id: str
    dag_uuid: UUID
    tenant_id: UUID
    run_id: str
    logical_date: datetime | None
    run_after: datetime
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    dag_version_id: UUID
    version_number: int
    version_created_at: datetime


@dataclass(frozen=True)
class TryRow:
    """One try of a task instance: an archived one, or the current one."""

    task_instance_id: UUID
    task_id: str
    map_index: int
    state: str
    try_number: int
    max_tries: int
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    executor: str | None
    hostname: str | None
    pid: int | None
    task_type: str | None
    dag_id: str
    dag_uuid: UUID
    tenant_id: UUID
    run_id: str
    logical_date: datetime | None
    run_after: datetime
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    dag_version_id: UUID
    version_number: int
    version_created_at: datetime


@dataclass(frozen=True)
class TiFilter:
    """Which task instances of a tenant a list covers (``None`` lists mean "any")."""

    dag_ids: Sequence[str] | None = None
    run_ids: Sequence[str] | None = None
    task_ids: Sequence[str] | None = None
    ids: Sequence[UUID] | None = None
    states: Sequence[str] = ()
    include_no_state: bool = False
    """Also match ``none`` (Airflow's ``state=no_status`` / a null state)."""
    task_types: Sequence[str] = ()
    map_indexes: Sequence[int] = ()
    try_numbers: Sequence[int] = ()
    executors: Sequence[str] = ()
    version_numbers: Sequence[int] = ()
    run_after: Range[datetime] = field(default_factory=Range)
    logical_date: Range[datetime] = field(default_factory=Range)
    start_date: Range[datetime] = field(default_factory=Range)
    end_date: Range[datetime] = field(default_factory=Range)
    updated_at: Range[datetime] = field(default_factory=Range)
    duration: Range[float] = field(default_factory=Range)
    task_id_pattern: str | None = None
    task_id_prefix: str | None = None
    dag_id_pattern: str | None = None
    dag_id_prefix: str | None = None
    run_id_pattern: str | None = None
    run_id_prefix: str | None = None


def _state_condition(where: Where, flt: TiFilter) -> None:
    states = list(flt.states)
    if flt.include_no_state:
        states.append("none")
    where.any_of("ti.state", states)


def _where(tenant_id: UUID, flt: TiFilter) -> Where:
    where = Where()
    where.add("d.tenant_id = %(tenant_id)s", tenant_id=tenant_id)
    if flt.dag_ids is not None:
        where.add("d.dag_id = ANY(%(dag_ids)s::text[])", dag_ids=list(flt.dag_ids))
    if flt.run_ids is not None:
        where.add("r.run_id = ANY(%(run_ids)s::text[])", run_ids=list(flt.run_ids))
    if flt.task_ids is not None:
        where.add("ti.task_id = ANY(%(task_ids)s::text[])", task_ids=list(flt.task_ids))
    if flt.ids is not None:
        where.add("ti.id = ANY(%(ids)s::uuid[])", ids=list(flt.ids))
    _state_condition(where, flt)
    where.any_of(_TASK_TYPE, flt.task_types)
    where.any_of("ti.map_index", flt.map_indexes, "integer")
    where.any_of("ti.try_number", flt.try_numbers, "integer")
    where.any_of("ti.executor", flt.executors)
    where.any_of("v.version_number", flt.version_numbers, "integer")
    where.range("r.run_after", flt.run_after)
    where.range("r.logical_date", flt.logical_date)
    where.range("ti.start_date", flt.start_date)
    where.range("ti.end_date", flt.end_date)
    where.range("ti.updated_at", flt.updated_at)
    where.range("ti.duration", flt.duration)
    where.pattern("ti.task_id", flt.task_id_pattern)
    where.prefix("ti.task_id", flt.task_id_prefix)
    where.pattern("d.dag_id", flt.dag_id_pattern)
    where.prefix("d.dag_id", flt.dag_id_prefix)
    where.pattern("r.run_id", flt.run_id_pattern)
    where.prefix("r.run_id", flt.run_id_prefix)
    return where


async def list_task_instances(
    db: Database,
    tenant_id: UUID,
    flt: TiFilter,
    *,
    order_by: OrderBy = (("map_index", False),),
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[TiRow], int]:
    """One page of task instances matching ``flt`` and how many match in total.

    Ties are broken by run, then task id, so a page is stable from one request to the next.
    """
    where = _where(tenant_id, flt)
    params = {**where.params, "limit": limit, "offset": offset}
    terms = list(order_by)
    for extra in ("run_after", "task_id"):
        if all(name != extra for name, _ in terms):
            terms.append((extra, False))
    order = order_clause(terms, SORT_COLUMNS, "ti.id")
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT count(*) {_FROM} {where.sql()}", params)
        total_row = await cur.fetchone()
        rows = conn.cursor(row_factory=class_row(TiRow))
        await rows.execute(
            f"{_SELECT} {where.sql()} {order} LIMIT %(limit)s OFFSET %(offset)s", params
        )
        page = await rows.fetchall()
    return page, int(total_row[0]) if total_row else 0


async def get_task_instance(
    db: Database, tenant_id: UUID, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1
) -> TiRow | None:
    """One task instance by its Airflow identity."""
    rows, _ = await list_task_instances(
        db,
        tenant_id,
        TiFilter(dag_ids=[dag_id], run_ids=[run_id], task_ids=[task_id], map_indexes=[map_index]),
        limit=1,
    )
    return rows[0] if rows else None


async def get_task_instances_by_id(
    db: Database, tenant_id: UUID, ids: Sequence[UUID]
) -> list[TiRow]:
    """Task instances by internal id, ordered by run and task."""
    if not ids:
        return []
    rows, _ = await list_task_instances(
        db, tenant_id, TiFilter(ids=list(ids)), order_by=(("run_after", False),), limit=None
    )
    return rows


_TRY_COLUMNS = """
    state, try_number, max_tries, queued_at, start_date, end_date, duration, executor, hostname,
    pid
"""


async def list_tries(db: Database, ti: TiRow) -> list[TryRow]:
    """Every try of a task instance, oldest first: the archived ones, then the current one."""
    query = f"""
        SELECT h.task_instance_id, h.task_id, h.map_index,
               {", ".join("h." + c.strip() for c in _TRY_COLUMNS.split(","))},
               %(task_type)s::text AS task_type, {_RUN_COLUMNS}
        FROM task_instance_history h
        JOIN dag_runs r ON r.id = h.run_uuid
        JOIN dags d ON d.id = r.dag_uuid
        JOIN dag_versions v ON v.id = r.dag_version_id
        WHERE h.task_instance_id = %(ti_id)s
        ORDER BY h.try_number
    """
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(TryRow))
        await cur.execute(query, {"ti_id": ti.id, "task_type": ti.task_type})
        archived = await cur.fetchall()
    archived = [t for t in archived if t.try_number != ti.try_number]
    return [*archived, current_try(ti)]


def current_try(ti: TiRow) -> TryRow:
    """The current try of ``ti`` in the shape of an archived one."""
    return TryRow(
        task_instance_id=ti.id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        state=ti.state,
        try_number=ti.try_number,
        max_tries=ti.max_tries,
        queued_at=ti.queued_at,
        start_date=ti.start_date,
        end_date=ti.end_date,
        duration=ti.duration,
        executor=ti.executor,
        hostname=ti.hostname,
        pid=ti.pid,
        task_type=ti.task_type,
        dag_id=ti.dag_id,
        dag_uuid=ti.dag_uuid,
        tenant_id=ti.tenant_id,
        run_id=ti.run_id,
        logical_date=ti.logical_date,
        run_after=ti.run_after,
        data_interval_start=ti.data_interval_start,
        data_interval_end=ti.data_interval_end,
        dag_version_id=ti.dag_version_id,
        version_number=ti.version_number,
        version_created_at=ti.version_created_at,
    )


async def set_notes(db: Database, ti_ids: Sequence[UUID], note: str | None) -> int:
    """Replace the note of the current try of each task instance (``None`` removes it)."""
    if not ti_ids:
        return 0
    async with acquire(db) as conn:
        cur = await conn.execute(
            "UPDATE task_instances SET note = %s WHERE id = ANY(%s::uuid[])",
            (note, list(ti_ids)),
        )
        return cur.rowcount


async def delete_task_instance(db: Database, ti_id: UUID) -> bool:
    """Delete a task instance and its archived tries."""
    async with acquire(db) as conn:
        cur = await conn.execute("DELETE FROM task_instances WHERE id = %s", (ti_id,))
        return cur.rowcount > 0
