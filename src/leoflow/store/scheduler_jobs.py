"""Scheduler processes as Airflow's "jobs": one row per scheduler that ever heartbeated.

Airflow lists its scheduler, triggerer and DAG-processor jobs; Leoflow's only long-running job
is the scheduler, whose liveness stamps already live in ``scheduler_heartbeats``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from leoflow.store.pool import Database, acquire


@dataclass(frozen=True)
class SchedulerJob:
    """A scheduler process and its latest heartbeat; ``number`` is stable by start time."""

    number: int
    scheduler_id: str
    hostname: str
    pid: int
    is_leader: bool
    started_at: datetime
    heartbeat_at: datetime


async def list_scheduler_jobs(
    db: Database,
    *,
    alive_after: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    descending: bool = False,
) -> tuple[list[SchedulerJob], int]:
    """One page of scheduler processes (only those alive after ``alive_after`` if given)."""
    direction = "DESC" if descending else "ASC"
    query = f"""
        SELECT * FROM (
            SELECT row_number() OVER (ORDER BY started_at, scheduler_id)::integer AS number,
                   scheduler_id, hostname, pid, is_leader, started_at, heartbeat_at
            FROM scheduler_heartbeats
        ) AS jobs
        WHERE %(alive_after)s::timestamptz IS NULL OR heartbeat_at >= %(alive_after)s
        ORDER BY number {direction}
        LIMIT %(limit)s OFFSET %(offset)s
    """
    params = {"alive_after": alive_after, "limit": limit, "offset": offset}
    async with acquire(db) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM scheduler_heartbeats "
            "WHERE %(alive_after)s::timestamptz IS NULL OR heartbeat_at >= %(alive_after)s",
            params,
        )
        total_row = await cur.fetchone()
        rows = conn.cursor(row_factory=class_row(SchedulerJob))
        await rows.execute(query, params)
        page = await rows.fetchall()
    return page, int(total_row[0]) if total_row else 0
