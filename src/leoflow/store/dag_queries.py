"""Read model of DAGs for the API: filtered, sorted pages, tags, run statistics, and the
API's DAG-level writes (bulk pause, favourites, clearing history, deregistering).

A DAG row is listed with what its latest version says about it (schedule, limits, defaults —
the spec without its ``source`` and ``tasks``, which can be large) and with its latest run, so
one query answers Airflow's DAG list including ``last_dag_run_state`` filters and ordering.
Every query is scoped to one tenant.
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

SORT_COLUMNS: Mapping[str, str] = {
    "dag_id": "d.dag_id",
    "dag_display_name": "d.dag_id",
    "is_paused": "d.is_paused",
    "last_run_state": "lr.state",
    "last_run_start_date": "lr.start_date",
    "last_parsed_time": "v.created_at",
}
"""Attributes a DAG list can be ordered by (Airflow's names) and their SQL."""

_SELECT = """
    SELECT d.id, d.tenant_id, d.dag_id, d.description, d.is_paused, d.is_active, d.owners,
           d.tags, d.latest_version_id, v.version_number, v.created_at AS version_created_at,
           v.spec - 'source' - 'tasks' AS spec_meta,
           lr.state AS last_run_state, lr.start_date AS last_run_start_date,
           ls.logical_date AS last_scheduled_logical_date,
           COALESCE(ls.runs, 0) AS scheduled_run_count,
           EXISTS (SELECT 1 FROM import_errors ie
                   WHERE ie.tenant_id = d.tenant_id AND ie.dag_id = d.dag_id)
               AS has_import_errors,
           (%(user_id)s::uuid IS NOT NULL AND EXISTS (
               SELECT 1 FROM dag_favorites f
               WHERE f.dag_uuid = d.id AND f.user_id = %(user_id)s::uuid)) AS is_favorite,
           (SELECT count(*) FROM dag_runs ar
            WHERE ar.dag_uuid = d.id AND ar.state = 'running') AS active_runs_count
    FROM dags d
    LEFT JOIN dag_versions v ON v.id = d.latest_version_id
    LEFT JOIN LATERAL (
        SELECT r.state, r.start_date, r.end_date FROM dag_runs r WHERE r.dag_uuid = d.id
        ORDER BY r.run_after DESC, r.created_at DESC LIMIT 1
    ) lr ON true
    LEFT JOIN LATERAL (
        SELECT max(s.logical_date) AS logical_date, count(*) AS runs
        FROM dag_runs s WHERE s.dag_uuid = d.id AND s.run_type = 'scheduled'
    ) ls ON true
"""


@dataclass(frozen=True)
class DagRow:
    """A DAG with what its latest version and latest run say about it."""

    id: UUID
    tenant_id: UUID
    dag_id: str
    description: str | None
    is_paused: bool
    is_active: bool
    owners: list[str]
    tags: list[str]
    latest_version_id: UUID | None
    version_number: int | None
    version_created_at: datetime | None
    spec_meta: dict[str, Any] | None
    last_run_state: str | None
    last_run_start_date: datetime | None
    last_scheduled_logical_date: datetime | None
    scheduled_run_count: int
    has_import_errors: bool
    is_favorite: bool
    active_runs_count: int


@dataclass(frozen=True)
class DagFilter:
    """Which DAGs of a tenant a list or a bulk update covers (Airflow's ``GET /dags`` filters)."""

    dag_ids: Sequence[str] | None = None
    tags: Sequence[str] = ()
    tags_match_all: bool = False
    owners: Sequence[str] = ()
    dag_id_pattern: str | None = None
    dag_id_prefix: str | None = None
    paused: bool | None = None
    exclude_stale: bool = True
    has_import_errors: bool | None = None
    last_run_state: str | None = None
    last_run_states: Sequence[str] = ()
    last_run_start: Range[datetime] = field(default_factory=Range)
    last_run_end: Range[datetime] = field(default_factory=Range)
    favorite_of: UUID | None = None
    """Only DAGs this user marked as favourite (``is_favorite=true``)."""
    not_favorite_of: UUID | None = None
    """Only DAGs this user did not mark (``is_favorite=false``)."""


def _where(tenant_id: UUID, flt: DagFilter) -> Where:
    where = Where()
    where.add("d.tenant_id = %(tenant_id)s", tenant_id=tenant_id)
    if flt.dag_ids is not None:
        where.add("d.dag_id = ANY(%(dag_ids)s::text[])", dag_ids=list(flt.dag_ids))
    if flt.tags:
        operator = "@>" if flt.tags_match_all else "&&"
        where.add(f"d.tags {operator} %(tags)s::text[]", tags=list(flt.tags))
    if flt.owners:
        where.add("d.owners && %(owners)s::text[]", owners=list(flt.owners))
    where.pattern("d.dag_id", flt.dag_id_pattern)
    where.prefix("d.dag_id", flt.dag_id_prefix)
    where.equals("d.is_paused", flt.paused)
    if flt.exclude_stale:
        where.add("d.is_active")
    if flt.has_import_errors is not None:
        negate = "" if flt.has_import_errors else "NOT "
        where.add(
            f"{negate}EXISTS (SELECT 1 FROM import_errors ie "
            "WHERE ie.tenant_id = d.tenant_id AND ie.dag_id = d.dag_id)"
        )
    where.equals("lr.state", flt.last_run_state)
    where.any_of("lr.state", flt.last_run_states)
    where.range("lr.start_date", flt.last_run_start)
    where.range("lr.end_date", flt.last_run_end)
    if flt.favorite_of is not None:
        where.add(
            "EXISTS (SELECT 1 FROM dag_favorites f WHERE f.dag_uuid = d.id "
            "AND f.user_id = %(favorite_of)s)",
            favorite_of=flt.favorite_of,
        )
    if flt.not_favorite_of is not None:
        where.add(
            "NOT EXISTS (SELECT 1 FROM dag_favorites f WHERE f.dag_uuid = d.id "
            "AND f.user_id = %(not_favorite_of)s)",
            not_favorite_of=flt.not_favorite_of,
        )
    return where


async def list_dags(
    db: Database,
    tenant_id: UUID,
    flt: DagFilter,
    *,
    order_by: OrderBy = (("dag_id", False),),
    limit: int = 50,
    offset: int = 0,
    user_id: UUID | None = None,
) -> tuple[list[DagRow], int]:
    """One page of the tenant's DAGs matching ``flt`` and how many match in total.

    ``user_id`` only decides ``is_favorite`` in the rows.
    """
    where = _where(tenant_id, flt)
    params = {**where.params, "user_id": user_id, "limit": limit, "offset": offset}
    order = order_clause(order_by, SORT_COLUMNS, "d.dag_id")
    async with acquire(db) as conn:
        cur = await conn.execute(
            f"SELECT count(*) FROM ({_SELECT} {where.sql()}) AS matching", params
        )
        total_row = await cur.fetchone()
        rows = conn.cursor(row_factory=class_row(DagRow))
        await rows.execute(
            f"{_SELECT} {where.sql()} {order} LIMIT %(limit)s OFFSET %(offset)s", params
        )
        page = await rows.fetchall()
    return page, int(total_row[0]) if total_row else 0


async def get_dag_row(
    db: Database, tenant_id: UUID, dag_id: str, *, user_id: UUID | None = None
) -> DagRow | None:
    """The DAG called ``dag_id`` in the tenant, stale or not."""
    rows, _ = await list_dags(
        db, tenant_id, DagFilter(dag_ids=[dag_id], exclude_stale=False), limit=1, user_id=user_id
    )
    return rows[0] if rows else None


async def set_paused_matching(
    db: Database, tenant_id: UUID, flt: DagFilter, paused: bool
) -> list[str]:
    """Pause or unpause every DAG matching ``flt``; returns their ``dag_id``s."""
    where = _where(tenant_id, flt)
    params = {**where.params, "paused": paused, "user_id": None}
    async with acquire(db) as conn:
        cur = await conn.execute(
            f"""
            UPDATE dags SET is_paused = %(paused)s
            WHERE id IN (SELECT d.id FROM ({_SELECT} {where.sql()}) AS d)
            RETURNING dag_id
            """,
            params,
        )
        return [row[0] for row in await cur.fetchall()]


async def count_active_task_instances(db: Database, dag_uuid: UUID) -> int:
    """Task instances of the DAG that hold (or are about to hold) an executor slot."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT count(*) FROM task_instances ti JOIN dag_runs r ON r.id = ti.run_uuid
            WHERE r.dag_uuid = %s AND ti.state IN ('queued', 'running', 'deferred')
            """,
            (dag_uuid,),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def clear_dag_history(db: Database, dag_uuid: UUID) -> int:
    """Delete every run of the DAG (task instances, their tries and XComs go with them).

    The DAG and its registered versions stay, so it can be triggered again. Returns the number
    of runs deleted.
    """
    async with acquire(db) as conn:
        cur = await conn.execute("DELETE FROM dag_runs WHERE dag_uuid = %s", (dag_uuid,))
        return cur.rowcount


async def deregister_dag(db: Database, dag_uuid: UUID) -> bool:
    """Remove the DAG, its versions and its whole history in one transaction."""
    async with acquire(db) as conn, conn.transaction():
        await conn.execute("DELETE FROM dag_runs WHERE dag_uuid = %s", (dag_uuid,))
        await conn.execute("UPDATE dags SET latest_version_id = NULL WHERE id = %s", (dag_uuid,))
        await conn.execute("DELETE FROM dag_versions WHERE dag_uuid = %s", (dag_uuid,))
        cur = await conn.execute("DELETE FROM dags WHERE id = %s", (dag_uuid,))
        return cur.rowcount > 0


async def set_favorite(db: Database, user_id: UUID, dag_uuid: UUID, favorite: bool) -> bool:
    """Mark or unmark a DAG as the user's favourite; ``False`` when nothing changed."""
    async with acquire(db) as conn:
        if favorite:
            cur = await conn.execute(
                "INSERT INTO dag_favorites (user_id, dag_uuid) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (user_id, dag_uuid),
            )
        else:
            cur = await conn.execute(
                "DELETE FROM dag_favorites WHERE user_id = %s AND dag_uuid = %s",
                (user_id, dag_uuid),
            )
        return cur.rowcount > 0


async def list_tags(
    db: Database,
    tenant_id: UUID,
    *,
    pattern: str | None = None,
    prefix: str | None = None,
    descending: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[str], int]:
    """Distinct tags of the tenant's DAGs (one page, sorted by name) and how many there are."""
    where = Where()
    where.pattern("t.name", pattern)
    where.prefix("t.name", prefix)
    inner = """
        SELECT DISTINCT unnest(tags) AS name FROM dags
        WHERE tenant_id = %(tenant_id)s AND is_active
    """
    params = {**where.params, "tenant_id": tenant_id, "limit": limit, "offset": offset}
    direction = "DESC" if descending else "ASC"
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT count(*) FROM ({inner}) AS t {where.sql()}", params)
        total_row = await cur.fetchone()
        cur = await conn.execute(
            f"SELECT t.name FROM ({inner}) AS t {where.sql()} "
            f"ORDER BY t.name {direction} LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        names = [row[0] for row in await cur.fetchall()]
    return names, int(total_row[0]) if total_row else 0


async def run_state_counts(
    db: Database, tenant_id: UUID, dag_ids: Sequence[str] | None = None
) -> dict[str, dict[str, int]]:
    """Per DAG (all of the tenant's, or ``dag_ids``), the number of runs in each state.

    DAGs without runs are included with an empty mapping, in ``dag_id`` order.
    """
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT d.dag_id, r.state, count(r.id)
            FROM dags d LEFT JOIN dag_runs r ON r.dag_uuid = d.id
            WHERE d.tenant_id = %(tenant_id)s AND d.is_active
              AND (%(dag_ids)s::text[] IS NULL OR d.dag_id = ANY(%(dag_ids)s::text[]))
            GROUP BY d.dag_id, r.state
            ORDER BY d.dag_id
            """,
            {"tenant_id": tenant_id, "dag_ids": list(dag_ids) if dag_ids else None},
        )
        counts: dict[str, dict[str, int]] = {}
        for dag_id, state, count in await cur.fetchall():
            per_dag = counts.setdefault(dag_id, {})
            if state is not None:
                per_dag[state] = int(count)
    return counts


VERSION_SORT_COLUMNS: Mapping[str, str] = {
    "id": "v.created_at",
    "version_number": "v.version_number",
    "bundle_name": "NULL::text",
    "bundle_version": "NULL::text",
    "created_at": "v.created_at",
    "dag_id": "d.dag_id",
}
"""Attributes a version list can be ordered by (Airflow's names) and their SQL."""


@dataclass(frozen=True)
class VersionRow:
    """A registered DAG version, without its (possibly large) spec."""

    id: UUID
    dag_uuid: UUID
    dag_id: str
    version_number: int
    spec_hash: str
    image: str | None
    created_at: datetime


async def list_versions(
    db: Database,
    tenant_id: UUID,
    *,
    dag_ids: Sequence[str] | None = None,
    version_number: int | None = None,
    order_by: OrderBy = (("id", False),),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[VersionRow], int]:
    """One page of versions of one DAG, several, or all (``dag_ids=None``), and the total."""
    where = Where()
    where.add("d.tenant_id = %(tenant_id)s", tenant_id=tenant_id)
    if dag_ids is not None:
        where.add("d.dag_id = ANY(%(dag_ids)s::text[])", dag_ids=list(dag_ids))
    where.equals("v.version_number", version_number)
    params = {**where.params, "limit": limit, "offset": offset}
    order = order_clause(order_by, VERSION_SORT_COLUMNS, "v.id")
    source = "FROM dag_versions v JOIN dags d ON d.id = v.dag_uuid"
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT count(*) {source} {where.sql()}", params)
        total_row = await cur.fetchone()
        rows = conn.cursor(row_factory=class_row(VersionRow))
        await rows.execute(
            "SELECT v.id, v.dag_uuid, d.dag_id, v.version_number, v.spec_hash, v.image, "
            f"v.created_at {source} {where.sql()} {order} LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        page = await rows.fetchall()
    return page, int(total_row[0]) if total_row else 0


async def get_version_source(
    db: Database, tenant_id: UUID, dag_id: str, version_number: int | None = None
) -> tuple[int, str | None] | None:
    """``(version_number, source text)`` of one version of a DAG (its latest by default)."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT v.version_number, v.spec->>'source'
            FROM dags d JOIN dag_versions v ON v.dag_uuid = d.id
            WHERE d.tenant_id = %(tenant_id)s AND d.dag_id = %(dag_id)s
              AND (CASE WHEN %(number)s::integer IS NULL THEN v.id = d.latest_version_id
                        ELSE v.version_number = %(number)s::integer END)
            """,
            {"tenant_id": tenant_id, "dag_id": dag_id, "number": version_number},
        )
        row = await cur.fetchone()
    return None if row is None else (int(row[0]), row[1])
