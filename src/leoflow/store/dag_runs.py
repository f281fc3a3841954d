"""DAG runs: created idempotently on ``(dag, run_id)``, moved by guarded compare-and-set.

A run has a UUID primary key (what the rest of the store references) and a human ``run_id``
(``manual__<iso>`` / ``scheduled__<iso>``), unique per DAG, that the Airflow API speaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from leoflow.states import RunState, legal_run_sources
from leoflow.store.pool import Database, acquire, single_statement

COLUMNS = (
    "id, dag_uuid, run_id, dag_version_id, state, run_type, triggered_by, logical_date, "
    "data_interval_start, data_interval_end, run_after, conf, note, queued_at, start_date, "
    "end_date, created_at, updated_at, triggering_user_name"
)


class RunType(StrEnum):
    """How a run came to be (Airflow's ``run_type``)."""

    MANUAL = "manual"
    SCHEDULED = "scheduled"
    BACKFILL = "backfill"


@dataclass(frozen=True)
class DagRun:
    """A DAG run row."""

    id: UUID
    dag_uuid: UUID
    run_id: str
    dag_version_id: UUID
    state: RunState
    run_type: RunType
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
    created_at: datetime
    updated_at: datetime
    triggering_user_name: str | None = None
    """Who triggered a manual run (``None`` for the scheduler's runs)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", RunState(self.state))
        object.__setattr__(self, "run_type", RunType(self.run_type))


_INSERT = f"""
    INSERT INTO dag_runs (
        dag_uuid, run_id, dag_version_id, state, run_type, triggered_by, triggering_user_name,
        logical_date, data_interval_start, data_interval_end, run_after, conf, note, queued_at,
        start_date
    )
    VALUES (
        %(dag_uuid)s, %(run_id)s, %(dag_version_id)s, %(state)s, %(run_type)s,
        %(triggered_by)s, %(triggering_user_name)s, %(logical_date)s,
        %(data_interval_start)s, %(data_interval_end)s,
        COALESCE(%(run_after)s, now()), %(conf)s, %(note)s,
        CASE WHEN %(state)s = 'queued' THEN now() END,
        CASE WHEN %(state)s = 'running' THEN now() END
    )
    ON CONFLICT (dag_uuid, run_id) DO NOTHING
    RETURNING {COLUMNS}
"""


async def create_dag_run(
    db: Database,
    *,
    dag_uuid: UUID,
    run_id: str,
    dag_version_id: UUID,
    run_type: RunType,
    logical_date: datetime | None = None,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    run_after: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    triggered_by: str | None = None,
    triggering_user_name: str | None = None,
    note: str | None = None,
    state: RunState = RunState.QUEUED,
) -> tuple[DagRun, bool]:
    """Create a run; returns ``(run, created)``.

    Idempotent on ``(dag, run_id)``: if the run exists (a retried trigger, two scheduler
    passes), the existing row is returned unchanged with ``created=False``.
    """
    params = {
        "dag_uuid": dag_uuid,
        "run_id": run_id,
        "dag_version_id": dag_version_id,
        "state": RunState(state).value,
        "run_type": RunType(run_type).value,
        "triggered_by": triggered_by,
        "triggering_user_name": triggering_user_name,
        "logical_date": logical_date,
        "data_interval_start": data_interval_start,
        "data_interval_end": data_interval_end,
        "run_after": run_after,
        "conf": Jsonb(dict(conf or {})),
        "note": note,
    }
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(DagRun))
        await cur.execute(_INSERT, params)
        run = await cur.fetchone()
        if run is not None:
            return run, True
        # ON CONFLICT DO NOTHING waited for any concurrent inserter, so the row is visible now.
        await cur.execute(
            f"SELECT {COLUMNS} FROM dag_runs WHERE dag_uuid = %s AND run_id = %s",
            (dag_uuid, run_id),
        )
        existing = await cur.fetchone()
    if existing is None:  # pragma: no cover - the conflict proves the row exists
        raise LookupError(f"run {run_id!r} conflicted but cannot be read")
    return existing, False


async def get_dag_run(db: Database, run_uuid: UUID) -> DagRun | None:
    """A run by its UUID."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(DagRun))
        await cur.execute(f"SELECT {COLUMNS} FROM dag_runs WHERE id = %s", (run_uuid,))
        return await cur.fetchone()


async def find_dag_run(db: Database, dag_uuid: UUID, run_id: str) -> DagRun | None:
    """A run by its DAG and human ``run_id`` (how the Airflow API names runs)."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(DagRun))
        await cur.execute(
            f"SELECT {COLUMNS} FROM dag_runs WHERE dag_uuid = %s AND run_id = %s",
            (dag_uuid, run_id),
        )
        return await cur.fetchone()


_TRANSITION = f"""
    UPDATE dag_runs SET
        state = %(to)s,
        queued_at = CASE WHEN %(to)s = 'queued' THEN now() ELSE queued_at END,
        start_date = CASE
            WHEN %(to)s = 'queued' THEN NULL
            WHEN %(to)s = 'running' THEN COALESCE(start_date, now())
            ELSE start_date END,
        end_date = CASE WHEN %(to)s IN ('success', 'failed') THEN now() ELSE NULL END
    WHERE id = %(id)s AND state = ANY(%(sources)s::text[])
    RETURNING {COLUMNS}
"""


async def transition_dag_run(
    db: Database, run_uuid: UUID, to_state: RunState, *, by_operator: bool = False
) -> DagRun | None:
    """Move a run to ``to_state`` if its current state is a legal source; else do nothing.

    One guarded ``UPDATE``: the updated run when it applied, ``None`` when refused (illegal
    from the current state, or no such run). Dates follow Airflow: queuing (including a clear)
    resets ``start_date``/``end_date``, running sets ``start_date``, finishing sets ``end_date``.
    """
    target = RunState(to_state)
    sources = [s.value for s in legal_run_sources(target, by_operator=by_operator)]
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(DagRun))
        await cur.execute(_TRANSITION, {"to": target.value, "id": run_uuid, "sources": sources})
        return await cur.fetchone()
