"""Read model of the web UI's private API: aggregates the Airflow web app polls.

These queries answer the dashboard, the DAG list bars, the grid, the Gantt chart and the
calendar. Every one is scoped to one tenant and bounded (a page of DAGs, a list of runs, a
time window), because the web app re-asks them every few seconds while anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.rows import class_row

from leoflow.store._filters import Range, Where
from leoflow.store.pool import Database, acquire


@dataclass(frozen=True)
class LightRun:
    """A run reduced to what bars and headers show."""

    id: UUID
    dag_uuid: UUID
    dag_id: str
    run_id: str
    logical_date: datetime | None
    run_after: datetime
    start_date: datetime | None
    end_date: datetime | None
    state: str


_LIGHT_COLUMNS = """
    r.id, r.dag_uuid, d.dag_id, r.run_id, r.logical_date, r.run_after, r.start_date,
    r.end_date, r.state
"""


async def latest_runs_per_dag(
    db: Database, tenant_id: UUID, dag_ids: Sequence[str], limit: int
) -> dict[str, list[LightRun]]:
    """Per DAG of ``dag_ids``, its ``limit`` latest runs (newest first)."""
    if not dag_ids or limit <= 0:
        return {dag_id: [] for dag_id in dag_ids}
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(LightRun))
        await cur.execute(
            f"""
            SELECT {_LIGHT_COLUMNS}
            FROM dags d
            CROSS JOIN LATERAL (
                SELECT * FROM dag_runs x WHERE x.dag_uuid = d.id
                ORDER BY x.run_after DESC, x.created_at DESC LIMIT %(limit)s
            ) r
            WHERE d.tenant_id = %(tenant_id)s AND d.dag_id = ANY(%(dag_ids)s::text[])
            ORDER BY d.dag_id, r.run_after DESC, r.created_at DESC
            """,
            {"tenant_id": tenant_id, "dag_ids": list(dag_ids), "limit": limit},
        )
        rows = await cur.fetchall()
    result: dict[str, list[LightRun]] = {dag_id: [] for dag_id in dag_ids}
    for row in rows:
        result.setdefault(row.dag_id, []).append(row)
    return result


async def latest_run(db: Database, tenant_id: UUID, dag_id: str) -> LightRun | None:
    """The DAG's newest run, if any."""
    runs = await latest_runs_per_dag(db, tenant_id, [dag_id], 1)
    found = runs.get(dag_id) or []
    return found[0] if found else None


@dataclass(frozen=True)
class DagStats:
    """Dashboard counters."""

    active: int
    failed: int
    running: int
    queued: int


async def dashboard_dag_stats(db: Database, tenant_id: UUID) -> DagStats:
    """Unpaused DAGs, DAGs whose latest run failed, and DAGs with running or queued runs."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT
              count(*) FILTER (WHERE NOT d.is_paused),
              count(*) FILTER (WHERE (
                  SELECT r.state FROM dag_runs r WHERE r.dag_uuid = d.id
                  ORDER BY r.run_after DESC, r.created_at DESC LIMIT 1) = 'failed'),
              count(*) FILTER (WHERE EXISTS (
                  SELECT 1 FROM dag_runs r WHERE r.dag_uuid = d.id AND r.state = 'running')),
              count(*) FILTER (WHERE EXISTS (
                  SELECT 1 FROM dag_runs r WHERE r.dag_uuid = d.id AND r.state = 'queued'))
            FROM dags d
            WHERE d.tenant_id = %s AND d.is_active
            """,
            (tenant_id,),
        )
        row = await cur.fetchone()
    if row is None:  # pragma: no cover - an aggregate always returns a row
        return DagStats(0, 0, 0, 0)
    return DagStats(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


async def historical_state_counts(
    db: Database, tenant_id: UUID, start: datetime, end: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """Runs per state and task instances per state, for runs whose ``run_after`` falls in
    ``[start, end]``."""
    params = {"tenant_id": tenant_id, "start": start, "end": end}
    window = """
        FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid
        WHERE d.tenant_id = %(tenant_id)s AND r.run_after >= %(start)s AND r.run_after <= %(end)s
    """
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT r.state, count(*) {window} GROUP BY r.state", params)
        runs = {str(state): int(count) for state, count in await cur.fetchall()}
        cur = await conn.execute(
            """
            SELECT ti.state, count(*)
            FROM task_instances ti JOIN dag_runs r ON r.id = ti.run_uuid
            JOIN dags d ON d.id = r.dag_uuid
            WHERE d.tenant_id = %(tenant_id)s AND r.run_after >= %(start)s
              AND r.run_after <= %(end)s
            GROUP BY ti.state
            """,
            params,
        )
        tis = {str(state): int(count) for state, count in await cur.fetchall()}
    return runs, tis


@dataclass(frozen=True)
class TiCell:
    """The current try of one task instance, as a grid cell shows it."""

    run_id: str
    task_id: str
    map_index: int
    state: str
    start_date: datetime | None
    end_date: datetime | None
    version_number: int
    has_note: bool


async def grid_cells(
    db: Database, tenant_id: UUID, dag_id: str, run_ids: Sequence[str]
) -> list[TiCell]:
    """Task instances of the given runs of a DAG (ordered by run, then task)."""
    if not run_ids:
        return []
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(TiCell))
        await cur.execute(
            """
            SELECT r.run_id, ti.task_id, ti.map_index, ti.state, ti.start_date, ti.end_date,
                   v.version_number, (ti.note IS NOT NULL AND ti.note <> '') AS has_note
            FROM task_instances ti
            JOIN dag_runs r ON r.id = ti.run_uuid
            JOIN dags d ON d.id = r.dag_uuid
            JOIN dag_versions v ON v.id = r.dag_version_id
            WHERE d.tenant_id = %(tenant_id)s AND d.dag_id = %(dag_id)s
              AND r.run_id = ANY(%(run_ids)s::text[])
            ORDER BY r.run_id, ti.task_id, ti.map_index
            """,
            {"tenant_id": tenant_id, "dag_id": dag_id, "run_ids": list(run_ids)},
        )
        return await cur.fetchall()


@dataclass(frozen=True)
class VersionSpec:
    """A DAG version's number and its spec."""

    dag_uuid: UUID
    version_number: int
    spec: dict[str, Any]


async def version_specs(
    db: Database,
    tenant_id: UUID,
    dag_id: str,
    version_numbers: Sequence[int] | None = None,
) -> list[VersionSpec]:
    """Specs of a DAG's versions: the latest one when ``version_numbers`` is ``None``, else
    the ones named (newest first). Empty when the DAG is unknown."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(VersionSpec))
        if version_numbers is None:
            await cur.execute(
                """
                SELECT d.id AS dag_uuid, v.version_number, v.spec - 'source' AS spec
                FROM dags d JOIN dag_versions v ON v.id = d.latest_version_id
                WHERE d.tenant_id = %s AND d.dag_id = %s
                """,
                (tenant_id, dag_id),
            )
        else:
            await cur.execute(
                """
                SELECT d.id AS dag_uuid, v.version_number, v.spec - 'source' AS spec
                FROM dags d JOIN dag_versions v ON v.dag_uuid = d.id
                WHERE d.tenant_id = %s AND d.dag_id = %s AND v.version_number = ANY(%s::int[])
                ORDER BY v.version_number DESC
                """,
                (tenant_id, dag_id, list(version_numbers)),
            )
        return await cur.fetchall()


@dataclass(frozen=True)
class GanttRow:
    """One try of one task instance of a run."""

    task_id: str
    map_index: int
    try_number: int
    state: str
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None


async def gantt_rows(
    db: Database, tenant_id: UUID, dag_id: str, run_id: str
) -> list[GanttRow] | None:
    """Every try (earlier ones and the current one) of the run's task instances, by start;
    ``None`` when the run does not exist."""
    params = {"tenant_id": tenant_id, "dag_id": dag_id, "run_id": run_id}
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT r.id FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid
            WHERE d.tenant_id = %(tenant_id)s AND d.dag_id = %(dag_id)s
              AND r.run_id = %(run_id)s
            """,
            params,
        )
        found = await cur.fetchone()
        if found is None:
            return None
        rows = conn.cursor(row_factory=class_row(GanttRow))
        await rows.execute(
            """
            SELECT task_id, map_index, try_number, state, queued_at, start_date, end_date
            FROM (
                SELECT task_id, map_index, try_number, state, queued_at, start_date, end_date
                FROM task_instances WHERE run_uuid = %(run)s
                UNION ALL
                SELECT task_id, map_index, try_number, state, queued_at, start_date, end_date
                FROM task_instance_history WHERE run_uuid = %(run)s
            ) tries
            ORDER BY start_date NULLS LAST, task_id, try_number
            """,
            {"run": found[0]},
        )
        return await rows.fetchall()


@dataclass(frozen=True)
class CalendarCell:
    """How many runs of a DAG were in one state in one hour or day."""

    date: datetime
    state: str
    count: int


async def calendar_cells(
    db: Database,
    tenant_id: UUID,
    dag_id: str,
    granularity: Literal["hourly", "daily"],
    logical_date: Range[datetime],
) -> list[CalendarCell]:
    """Runs of a DAG counted per hour or day (of their logical date, else ``run_after``)."""
    unit = "hour" if granularity == "hourly" else "day"
    effective = "COALESCE(r.logical_date, r.run_after)"
    where = Where()
    where.add("d.tenant_id = %(tenant_id)s AND d.dag_id = %(dag_id)s")
    where.range(effective, logical_date)
    params = {**where.params, "tenant_id": tenant_id, "dag_id": dag_id, "unit": unit}
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(CalendarCell))
        await cur.execute(
            f"""
            SELECT date_trunc(%(unit)s, {effective}, 'UTC') AS date, r.state,
                   count(*)::int AS count
            FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid
            {where.sql()}
            GROUP BY 1, 2 ORDER BY 1, 2
            """,
            params,
        )
        return await cur.fetchall()


@dataclass(frozen=True)
class DurationStatsRow:
    """Duration statistics over a DAG's successful runs (seconds)."""

    count: int
    mean: float | None
    mode: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None


async def run_duration_stats(db: Database, tenant_id: UUID, dag_id: str) -> DurationStatsRow:
    """Mean, mode (whole seconds) and percentiles of the DAG's successful run durations."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(DurationStatsRow))
        await cur.execute(
            """
            WITH durations AS (
                SELECT EXTRACT(EPOCH FROM r.end_date - r.start_date)::double precision AS s
                FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid
                WHERE d.tenant_id = %s AND d.dag_id = %s AND r.state = 'success'
                  AND r.start_date IS NOT NULL AND r.end_date IS NOT NULL
            )
            SELECT count(*)::int AS count, avg(s) AS mean,
                   mode() WITHIN GROUP (ORDER BY round(s)::double precision) AS mode,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY s) AS p90,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY s) AS p95,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99
            FROM durations
            """,
            (tenant_id, dag_id),
        )
        row = await cur.fetchone()
    return row or DurationStatsRow(0, None, None, None, None, None, None)


async def dag_exists(db: Database, tenant_id: UUID, dag_id: str) -> bool:
    """Whether the tenant has a DAG called ``dag_id``."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            "SELECT 1 FROM dags WHERE tenant_id = %s AND dag_id = %s", (tenant_id, dag_id)
        )
        return await cur.fetchone() is not None


async def run_exists(db: Database, tenant_id: UUID, dag_id: str, run_id: str) -> bool:
    """Whether the tenant's DAG ``dag_id`` has a run ``run_id``."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT 1 FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid
            WHERE d.tenant_id = %s AND d.dag_id = %s AND r.run_id = %s
            """,
            (tenant_id, dag_id, run_id),
        )
        return await cur.fetchone() is not None


async def dags_with_run_state(db: Database, tenant_id: UUID, state: str) -> set[str]:
    """The tenant's DAGs that have at least one run in ``state``."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT d.dag_id FROM dags d
            WHERE d.tenant_id = %s
              AND EXISTS (SELECT 1 FROM dag_runs r WHERE r.dag_uuid = d.id AND r.state = %s)
            """,
            (tenant_id, state),
        )
        return {row[0] for row in await cur.fetchall()}
