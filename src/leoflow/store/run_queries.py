"""Read model of DAG runs for the API: one DAG's runs or every DAG's (Airflow's ``~``),
filtered, sorted and paginated, plus the API's run-level writes that are not state moves
(notes, deletion). State moves go through :mod:`leoflow.scheduler.operations`.
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

_DURATION = "EXTRACT(EPOCH FROM r.end_date - r.start_date)::double precision"

SORT_COLUMNS: Mapping[str, str] = {
    "id": "r.created_at",
    "state": "r.state",
    "dag_id": "d.dag_id",
    "run_id": "r.run_id",
    "dag_run_id": "r.run_id",
    "logical_date": "r.logical_date",
    "run_after": "r.run_after",
    "start_date": "r.start_date",
    "end_date": "r.end_date",
    "updated_at": "r.updated_at",
    "conf": "r.conf::text",
    "duration": _DURATION,
    "run_type": "r.run_type",
    "data_interval_start": "r.data_interval_start",
    "data_interval_end": "r.data_interval_end",
}
"""Attributes a run list can be ordered by (Airflow's names) and their SQL."""

_SELECT = f"""
    SELECT r.id, r.dag_uuid, d.dag_id, d.tenant_id, r.run_id, r.dag_version_id,
           v.version_number, v.created_at AS version_created_at, r.state, r.run_type,
           r.triggered_by, r.logical_date, r.data_interval_start, r.data_interval_end,
           r.run_after, r.conf, r.note, r.queued_at, r.start_date, r.end_date,
           {_DURATION} AS duration, r.created_at, r.updated_at, r.triggering_user_name
    FROM dag_runs r
    JOIN dags d ON d.id = r.dag_uuid
    JOIN dag_versions v ON v.id = r.dag_version_id
"""


@dataclass(frozen=True)
class RunRow:
    """A run with its DAG's name and its DAG version's number."""

    id: UUID
    dag_uuid: UUID
    dag_id: str
    tenant_id: UUID
    run_id: str
    dag_version_id: UUID
    version_number: int
    version_created_at: datetime
    state: str
    run_type: str
    triggered_by: str | None
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime
    conf: dict[str, Any]
    note: str | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    created_at: datetime
    updated_at: datetime
    triggering_user_name: str | None = None


@dataclass(frozen=True)
class RunFilter:
    """Which runs of a tenant a list covers (``dag_ids=None`` means every DAG)."""

    dag_ids: Sequence[str] | None = None
    run_ids: Sequence[str] | None = None
    states: Sequence[str] = ()
    run_types: Sequence[str] = ()
    version_numbers: Sequence[int] = ()
    run_after: Range[datetime] = field(default_factory=Range)
    logical_date: Range[datetime] = field(default_factory=Range)
    start_date: Range[datetime] = field(default_factory=Range)
    end_date: Range[datetime] = field(default_factory=Range)
    updated_at: Range[datetime] = field(default_factory=Range)
    duration: Range[float] = field(default_factory=Range)
    conf_contains: str | None = None
    run_id_pattern: str | None = None
    run_id_prefix: str | None = None
    dag_id_pattern: str | None = None
    dag_id_prefix: str | None = None
    triggering_user_pattern: str | None = None
    triggering_user_prefix: str | None = None


def _where(tenant_id: UUID, flt: RunFilter) -> Where:
    where = Where()
    where.add("d.tenant_id = %(tenant_id)s", tenant_id=tenant_id)
    if flt.dag_ids is not None:
        where.add("d.dag_id = ANY(%(dag_ids)s::text[])", dag_ids=list(flt.dag_ids))
    if flt.run_ids is not None:
        where.add("r.run_id = ANY(%(run_ids)s::text[])", run_ids=list(flt.run_ids))
    where.any_of("r.state", flt.states)
    where.any_of("r.run_type", flt.run_types)
    where.any_of("v.version_number", flt.version_numbers, "integer")
    where.range("r.run_after", flt.run_after)
    where.range("r.logical_date", flt.logical_date)
    where.range("r.start_date", flt.start_date)
    where.range("r.end_date", flt.end_date)
    where.range("r.updated_at", flt.updated_at)
    where.range(_DURATION, flt.duration)
    if flt.conf_contains:
        where.add("r.conf::text LIKE %(conf_contains)s", conf_contains=f"%{flt.conf_contains}%")
    where.pattern("r.run_id", flt.run_id_pattern)
    where.prefix("r.run_id", flt.run_id_prefix)
    where.pattern("d.dag_id", flt.dag_id_pattern)
    where.prefix("d.dag_id", flt.dag_id_prefix)
    where.pattern("r.triggering_user_name", flt.triggering_user_pattern)
    where.prefix("r.triggering_user_name", flt.triggering_user_prefix)
    return where


async def list_runs(
    db: Database,
    tenant_id: UUID,
    flt: RunFilter,
    *,
    order_by: OrderBy = (("id", False),),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[RunRow], int]:
    """One page of runs matching ``flt`` and how many match in total."""
    where = _where(tenant_id, flt)
    params = {**where.params, "limit": limit, "offset": offset}
    order = order_clause(order_by, SORT_COLUMNS, "r.id")
    async with acquire(db) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid "
            f"JOIN dag_versions v ON v.id = r.dag_version_id {where.sql()}",
            params,
        )
        total_row = await cur.fetchone()
        rows = conn.cursor(row_factory=class_row(RunRow))
        await rows.execute(
            f"{_SELECT} {where.sql()} {order} LIMIT %(limit)s OFFSET %(offset)s", params
        )
        page = await rows.fetchall()
    return page, int(total_row[0]) if total_row else 0


async def get_run(db: Database, tenant_id: UUID, dag_id: str, run_id: str) -> RunRow | None:
    """The run ``run_id`` of the DAG ``dag_id`` in the tenant."""
    rows, _ = await list_runs(db, tenant_id, RunFilter(dag_ids=[dag_id], run_ids=[run_id]), limit=1)
    return rows[0] if rows else None


async def get_run_by_uuid(db: Database, tenant_id: UUID, run_uuid: UUID) -> RunRow | None:
    """A run by its internal id, if it belongs to the tenant."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(RunRow))
        await cur.execute(f"{_SELECT} WHERE r.id = %s AND d.tenant_id = %s", (run_uuid, tenant_id))
        return await cur.fetchone()


async def run_exists(db: Database, dag_uuid: UUID, run_id: str) -> bool:
    """Whether the DAG already has a run called ``run_id``."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            "SELECT 1 FROM dag_runs WHERE dag_uuid = %s AND run_id = %s", (dag_uuid, run_id)
        )
        return await cur.fetchone() is not None


async def set_run_note(db: Database, run_uuid: UUID, note: str | None) -> bool:
    """Replace the run's note (``None`` removes it)."""
    async with acquire(db) as conn:
        cur = await conn.execute("UPDATE dag_runs SET note = %s WHERE id = %s", (note, run_uuid))
        return cur.rowcount > 0


async def delete_run(db: Database, run_uuid: UUID) -> bool:
    """Delete a run with its task instances, their tries and XComs."""
    async with acquire(db) as conn:
        cur = await conn.execute("DELETE FROM dag_runs WHERE id = %s", (run_uuid,))
        return cur.rowcount > 0


async def runs_by_logical_date(
    db: Database,
    dag_uuid: UUID,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[UUID]:
    """Runs of a DAG whose logical date lies within ``[start, end]`` (open ends allowed).

    With a bound set, runs without a logical date are left out (Airflow's clear does the same).
    """
    where = Where()
    where.add("dag_uuid = %(dag_uuid)s", dag_uuid=dag_uuid)
    where.range("logical_date", Range(gte=start, lte=end))
    async with acquire(db) as conn:
        cur = await conn.execute(
            f"SELECT id FROM dag_runs {where.sql()} ORDER BY logical_date NULLS LAST, run_after",
            where.params,
        )
        return [row[0] for row in await cur.fetchall()]
