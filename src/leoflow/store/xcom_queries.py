"""Read model of XCom entries for the API, straight from the ``xcom`` table.

The API lists and shows XComs; it never goes through an XCom backend's push/pull path, so
reading does not extend a TTL or count as a pull. Expired entries are left out even before a
purge has removed them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from psycopg.rows import class_row

from leoflow.store._filters import Range, Where
from leoflow.store._listing import OrderBy, order_clause
from leoflow.store.pool import Database, acquire

SORT_COLUMNS: Mapping[str, str] = {
    "key": "x.key",
    "dag_id": "d.dag_id",
    "run_id": "r.run_id",
    "task_id": "x.task_id",
    "map_index": "x.map_index",
    "timestamp": "x.created_at",
    "run_after": "r.run_after",
    "logical_date": "r.logical_date",
}
"""Attributes an XCom list can be ordered by (Airflow's names) and their SQL."""

_FROM = """
    FROM xcom x
    JOIN dag_runs r ON r.id = x.run_uuid
    JOIN dags d ON d.id = r.dag_uuid
"""
_SELECT = f"""
    SELECT d.dag_id, r.run_id, x.task_id, x.map_index, x.key, x.value, x.content_type,
           x.size, x.created_at, r.logical_date, r.run_after
    {_FROM}
"""


@dataclass(frozen=True)
class XcomRow:
    """One stored XCom value and where it came from."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: bytes
    content_type: str
    size: int
    created_at: datetime
    logical_date: datetime | None
    run_after: datetime


@dataclass(frozen=True)
class XcomFilter:
    """Which XComs of a tenant a list covers (``None`` means any DAG, run or task)."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    key: str | None = None
    map_index: int | None = None
    key_pattern: str | None = None
    key_prefix: str | None = None
    dag_id_pattern: str | None = None
    dag_id_prefix: str | None = None
    run_id_pattern: str | None = None
    run_id_prefix: str | None = None
    task_id_pattern: str | None = None
    task_id_prefix: str | None = None
    logical_date: Range[datetime] = field(default_factory=Range)
    run_after: Range[datetime] = field(default_factory=Range)


def _where(tenant_id: UUID, flt: XcomFilter) -> Where:
    where = Where()
    where.add("d.tenant_id = %(tenant_id)s", tenant_id=tenant_id)
    where.add("(x.expires_at IS NULL OR x.expires_at > now())")
    where.equals("d.dag_id", flt.dag_id)
    where.equals("r.run_id", flt.run_id)
    where.equals("x.task_id", flt.task_id)
    where.equals("x.key", flt.key)
    where.equals("x.map_index", flt.map_index)
    where.pattern("x.key", flt.key_pattern)
    where.prefix("x.key", flt.key_prefix)
    where.pattern("d.dag_id", flt.dag_id_pattern)
    where.prefix("d.dag_id", flt.dag_id_prefix)
    where.pattern("r.run_id", flt.run_id_pattern)
    where.prefix("r.run_id", flt.run_id_prefix)
    where.pattern("x.task_id", flt.task_id_pattern)
    where.prefix("x.task_id", flt.task_id_prefix)
    where.range("r.logical_date", flt.logical_date)
    where.range("r.run_after", flt.run_after)
    return where


async def list_xcoms(
    db: Database,
    tenant_id: UUID,
    flt: XcomFilter,
    *,
    order_by: OrderBy = (("dag_id", False), ("task_id", False), ("run_id", False)),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[XcomRow], int]:
    """One page of live XCom entries matching ``flt`` and how many match in total."""
    where = _where(tenant_id, flt)
    params = {**where.params, "limit": limit, "offset": offset}
    terms: Sequence[tuple[str, bool]] = list(order_by)
    order = order_clause(terms, SORT_COLUMNS, "x.key")
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT count(*) {_FROM} {where.sql()}", params)
        total_row = await cur.fetchone()
        rows = conn.cursor(row_factory=class_row(XcomRow))
        await rows.execute(
            f"{_SELECT} {where.sql()} {order} LIMIT %(limit)s OFFSET %(offset)s", params
        )
        page = await rows.fetchall()
    return page, int(total_row[0]) if total_row else 0


async def get_xcom(
    db: Database,
    tenant_id: UUID,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    key: str,
    map_index: int = -1,
) -> XcomRow | None:
    """One live XCom entry."""
    rows, _ = await list_xcoms(
        db,
        tenant_id,
        XcomFilter(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_index=map_index),
        limit=1,
    )
    return rows[0] if rows else None
