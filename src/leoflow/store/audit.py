"""Audit log: who did what, when (logins, permission denials, changes made through the API).

Rows are Airflow's "event log" entries seen from the API; ``extra`` never holds a secret value
(callers record keys and ids, not values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from leoflow.store._listing import OrderBy, contains_condition, order_clause, prefix_condition
from leoflow.store.pool import Database, acquire

COLUMNS = (
    "id, tenant_id, event, actor, dag_id, run_id, task_id, map_index, try_number, "
    "logical_date, extra, created_at"
)

SORT_COLUMNS: Mapping[str, str] = {
    "id": "id",
    "event_log_id": "id",
    "dttm": "created_at",
    "when": "created_at",
    "dag_id": "dag_id",
    "task_id": "task_id",
    "run_id": "run_id",
    "event": "event",
    "logical_date": "logical_date",
    "owner": "actor",
    "extra": "extra::text",
}
"""Attributes a list can be ordered by (Airflow's names) and their SQL."""

_EQUALS = {
    "dag_id": "dag_id",
    "task_id": "task_id",
    "run_id": "run_id",
    "map_index": "map_index",
    "try_number": "try_number",
    "owner": "actor",
    "event": "event",
}
_PATTERNS = {
    "dag_id": "dag_id",
    "task_id": "task_id",
    "run_id": "run_id",
    "owner": "actor",
    "event": "event",
}


@dataclass(frozen=True)
class AuditEntry:
    """One audit row."""

    id: int
    tenant_id: UUID
    event: str
    actor: str | None
    dag_id: str | None
    run_id: str | None
    task_id: str | None
    map_index: int | None
    try_number: int | None
    logical_date: datetime | None
    extra: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class AuditFilter:
    """Filters of an audit listing (Airflow's event log query parameters)."""

    equals: Mapping[str, Any] | None = None
    """Exact matches by attribute: ``dag_id``, ``task_id``, ``run_id``, ``map_index``,
    ``try_number``, ``owner``, ``event``."""
    patterns: Mapping[str, str] | None = None
    """Case-insensitive substring matches by attribute."""
    prefixes: Mapping[str, str] | None = None
    """Case-sensitive prefix matches by attribute."""
    included_events: Sequence[str] | None = None
    excluded_events: Sequence[str] | None = None
    before: datetime | None = None
    after: datetime | None = None


async def record(
    db: Database,
    tenant_id: UUID,
    event: str,
    *,
    actor: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    try_number: int | None = None,
    logical_date: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Append an entry; returns its id."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            INSERT INTO audit_log (tenant_id, event, actor, dag_id, run_id, task_id, map_index,
                                   try_number, logical_date, extra)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING id
            """,
            (
                tenant_id,
                event,
                actor,
                dag_id,
                run_id,
                task_id,
                map_index,
                try_number,
                logical_date,
                Jsonb(dict(extra)) if extra is not None else None,
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def _conditions(tenant_id: UUID, flt: AuditFilter) -> tuple[str, dict[str, Any]]:
    where = ["tenant_id = %(tenant_id)s"]
    params: dict[str, Any] = {"tenant_id": tenant_id}
    for i, (name, value) in enumerate((flt.equals or {}).items()):
        if value is not None:
            where.append(f"{_EQUALS[name]} = %(eq{i})s")
            params[f"eq{i}"] = value
    for i, (name, value) in enumerate((flt.patterns or {}).items()):
        if value:
            sql, values = contains_condition(_PATTERNS[name], value, f"pat{i}")
            where.append(sql)
            params.update(values)
    for i, (name, value) in enumerate((flt.prefixes or {}).items()):
        if value:
            sql, values = prefix_condition(_PATTERNS[name], value, f"pre{i}")
            where.append(sql)
            params.update(values)
    if flt.included_events:
        where.append("event = ANY(%(included)s)")
        params["included"] = list(flt.included_events)
    if flt.excluded_events:
        where.append("NOT (event = ANY(%(excluded)s))")
        params["excluded"] = list(flt.excluded_events)
    if flt.before is not None:
        where.append("created_at < %(before)s")
        params["before"] = flt.before
    if flt.after is not None:
        where.append("created_at > %(after)s")
        params["after"] = flt.after
    return " AND ".join(where), params


async def list_entries(
    db: Database,
    tenant_id: UUID,
    flt: AuditFilter | None = None,
    *,
    order_by: OrderBy = (("id", False),),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    """One page of the tenant's audit entries and the total count matching the filters."""
    condition, params = _conditions(tenant_id, flt or AuditFilter())
    order = order_clause(order_by, SORT_COLUMNS, "id")
    params.update(limit=limit, offset=offset)
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT count(*) FROM audit_log WHERE {condition}", params)
        total_row = await cur.fetchone()
        rows_cur = conn.cursor(row_factory=class_row(AuditEntry))
        await rows_cur.execute(
            f"SELECT {COLUMNS} FROM audit_log WHERE {condition} {order} "
            "LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        rows = await rows_cur.fetchall()
    return rows, int(total_row[0]) if total_row else 0


async def get_entry(db: Database, tenant_id: UUID, entry_id: int) -> AuditEntry | None:
    """One audit entry of the tenant, if any."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(AuditEntry))
        await cur.execute(
            f"SELECT {COLUMNS} FROM audit_log WHERE tenant_id = %s AND id = %s",
            (tenant_id, entry_id),
        )
        return await cur.fetchone()
