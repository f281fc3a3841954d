"""Read model of XCom entries for the API, from the ``xcom`` table or a backend's values.

The API lists and shows XComs; it never goes through an XCom backend's push/pull path, so
reading does not extend a TTL or count as a pull. Expired entries are left out even before a
purge has removed them.

Where XComs live outside PostgreSQL (Redis), the caller reads the values of the candidate runs
(:func:`runs_for_xcom`) from the backend and hands them in as :class:`BackendValue` rows: the
same SQL then filters, orders, counts and pages them, joined to their runs and DAGs, so both
backends answer every filter and sort alike.
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

_JOINS = """
    JOIN dag_runs r ON r.id = x.run_uuid
    JOIN dags d ON d.id = r.dag_uuid
"""
_FROM = f"FROM xcom x {_JOINS}"
_FROM_VALUES = f"""
    FROM unnest(%(v_run)s::uuid[], %(v_task)s::text[], %(v_map)s::integer[], %(v_key)s::text[],
                %(v_value)s::bytea[], %(v_type)s::text[], %(v_created)s::timestamptz[],
                %(v_expires)s::timestamptz[])
         AS x (run_uuid, task_id, map_index, key, value, content_type, created_at, expires_at)
    {_JOINS}
"""
_COLUMNS = """
    SELECT d.dag_id, r.run_id, x.task_id, x.map_index, x.key, x.value, x.content_type,
           octet_length(x.value) AS size, x.created_at, r.logical_date, r.run_after
"""


@dataclass(frozen=True)
class BackendValue:
    """A live value read from an XCom backend other than the ``xcom`` table."""

    run_uuid: UUID
    task_id: str
    map_index: int
    key: str
    value: bytes
    content_type: str
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class XcomRun:
    """A run whose XComs a backend read must fetch, with the names backends key them by."""

    run_uuid: UUID
    dag_id: str
    tenant: str


def _source(values: Sequence[BackendValue] | None) -> tuple[str, dict[str, object]]:
    if values is None:
        return _FROM, {}
    return _FROM_VALUES, {
        "v_run": [v.run_uuid for v in values],
        "v_task": [v.task_id for v in values],
        "v_map": [v.map_index for v in values],
        "v_key": [v.key for v in values],
        "v_value": [v.value for v in values],
        "v_type": [v.content_type for v in values],
        "v_created": [v.created_at for v in values],
        "v_expires": [v.expires_at for v in values],
    }


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
    values: Sequence[BackendValue] | None = None,
) -> tuple[list[XcomRow], int]:
    """One page of live XCom entries matching ``flt`` and how many match in total.

    ``values``: the entries read from a backend other than the ``xcom`` table (``None``: the
    table is the store).
    """
    where = _where(tenant_id, flt)
    source, source_params = _source(values)
    params = {**where.params, **source_params, "limit": limit, "offset": offset}
    terms: Sequence[tuple[str, bool]] = list(order_by)
    order = order_clause(terms, SORT_COLUMNS, "x.key")
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT count(*) {source} {where.sql()}", params)
        total_row = await cur.fetchone()
        rows = conn.cursor(row_factory=class_row(XcomRow))
        await rows.execute(
            f"{_COLUMNS} {source} {where.sql()} {order} LIMIT %(limit)s OFFSET %(offset)s",
            params,
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
    values: Sequence[BackendValue] | None = None,
) -> XcomRow | None:
    """One live XCom entry (``values`` as for :func:`list_xcoms`)."""
    rows, _ = await list_xcoms(
        db,
        tenant_id,
        XcomFilter(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_index=map_index),
        limit=1,
        values=values,
    )
    return rows[0] if rows else None


async def runs_for_xcom(
    db: Database, tenant_id: UUID, flt: XcomFilter, *, limit: int
) -> list[XcomRun]:
    """The runs (at most ``limit + 1``, newest first) whose XComs ``flt`` can match: what a
    read from a backend other than the ``xcom`` table must fetch."""
    where = Where()
    where.add("d.tenant_id = %(tenant_id)s", tenant_id=tenant_id)
    where.equals("d.dag_id", flt.dag_id)
    where.equals("r.run_id", flt.run_id)
    where.pattern("d.dag_id", flt.dag_id_pattern)
    where.prefix("d.dag_id", flt.dag_id_prefix)
    where.pattern("r.run_id", flt.run_id_pattern)
    where.prefix("r.run_id", flt.run_id_prefix)
    where.range("r.logical_date", flt.logical_date)
    where.range("r.run_after", flt.run_after)
    async with acquire(db) as conn:
        cur = await conn.execute(
            "SELECT r.id, d.dag_id, t.name FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid "
            f"JOIN tenants t ON t.id = d.tenant_id {where.sql()} "
            "ORDER BY r.run_after DESC, r.id LIMIT %(limit)s",
            {**where.params, "limit": limit + 1},
        )
        return [XcomRun(row[0], row[1], row[2]) for row in await cur.fetchall()]
