"""Staging volumes of runs (ADR 0016): one row per run's volume, ``active`` → ``deleted``.

The row is written before the volume is created, so a volume in the cluster (or on disk)
without an active row can only be an orphan. Deletion keeps the row with its reason, which is
what an operator reads when asking where a run's staging files went.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from psycopg.rows import class_row

from leoflow.store.pool import Database, acquire

VolumeKind = Literal["pvc", "directory"]

REASON_RUN_SUCCEEDED = "run succeeded"
REASON_RUN_FAILED = "run failed; retention elapsed"
REASON_RUN_DELETED = "run deleted"
REASON_ORPHANED = "orphaned"


@dataclass(frozen=True)
class StagingVolume:
    """One run's staging volume as recorded."""

    id: UUID
    run_uuid: UUID
    pvc_name: str
    kind: str
    state: str
    size: str | None
    storage_class: str | None
    created_at: datetime
    deleted_at: datetime | None
    deleted_reason: str | None


@dataclass(frozen=True)
class DueVolume:
    """An active volume whose run says it should go, and why."""

    volume: StagingVolume
    reason: str


_COLUMNS = (
    "id, run_uuid, pvc_name, kind, state, size, storage_class, created_at, deleted_at, "
    "deleted_reason"
)


async def record_active(
    db: Database,
    run_uuid: UUID,
    name: str,
    *,
    kind: VolumeKind,
    size: str | None = None,
    storage_class: str | None = None,
) -> tuple[StagingVolume, bool]:
    """Record (or re-activate) the run's volume; ``True`` when the row is new or revived.

    A run cleared after its volume was deleted (it succeeded, then a task was cleared) gets a
    fresh volume under the same name: the row goes back to ``active``.
    """
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(StagingVolume))
        await cur.execute(
            f"""
            INSERT INTO staging_volumes (run_uuid, pvc_name, kind, size, storage_class)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (pvc_name) DO UPDATE
                SET state = 'active', deleted_at = NULL, deleted_reason = NULL,
                    created_at = now()
                WHERE staging_volumes.state = 'deleted'
            RETURNING {_COLUMNS}
            """,
            (run_uuid, name, kind, size, storage_class),
        )
        row = await cur.fetchone()
        if row is not None:
            return row, True
        await cur.execute(f"SELECT {_COLUMNS} FROM staging_volumes WHERE pvc_name = %s", (name,))
        existing = await cur.fetchone()
    if existing is None:  # deleted between the two statements (its run was deleted)
        raise LookupError(f"staging volume {name} vanished while being recorded")
    return existing, False


async def get_volume(db: Database, name: str) -> StagingVolume | None:
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(StagingVolume))
        await cur.execute(f"SELECT {_COLUMNS} FROM staging_volumes WHERE pvc_name = %s", (name,))
        return await cur.fetchone()


async def list_volumes(db: Database, run_uuid: UUID) -> list[StagingVolume]:
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(StagingVolume))
        await cur.execute(
            f"SELECT {_COLUMNS} FROM staging_volumes WHERE run_uuid = %s ORDER BY created_at",
            (run_uuid,),
        )
        return await cur.fetchall()


async def active_names(db: Database, kind: VolumeKind) -> set[str]:
    """Names of every active volume of ``kind`` (the orphan sweep keeps exactly these)."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            "SELECT pvc_name FROM staging_volumes WHERE state = 'active' AND kind = %s", (kind,)
        )
        return {str(row[0]) for row in await cur.fetchall()}


async def list_due(db: Database, kind: VolumeKind, failed_before: datetime) -> list[DueVolume]:
    """Active volumes to delete now: their run succeeded, or failed before ``failed_before``."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            f"""
            SELECT {", ".join("v." + c.strip() for c in _COLUMNS.split(","))}, r.state
            FROM staging_volumes v JOIN dag_runs r ON r.id = v.run_uuid
            WHERE v.state = 'active' AND v.kind = %s
              AND (r.state = 'success'
                   OR (r.state = 'failed' AND COALESCE(r.end_date, r.updated_at) < %s))
            ORDER BY v.created_at
            """,
            (kind, failed_before),
        )
        rows = await cur.fetchall()
    due: list[DueVolume] = []
    for row in rows:
        volume = StagingVolume(*row[:10])
        reason = REASON_RUN_SUCCEEDED if row[10] == "success" else REASON_RUN_FAILED
        due.append(DueVolume(volume, reason))
    return due


async def mark_deleted(db: Database, names: Sequence[str], reason: str) -> int:
    """Record that the volumes are gone (active rows only); returns how many changed."""
    if not names:
        return 0
    async with acquire(db) as conn:
        cur = await conn.execute(
            "UPDATE staging_volumes SET state = 'deleted', deleted_at = now(), "
            "deleted_reason = %s WHERE pvc_name = ANY(%s) AND state = 'active'",
            (reason, list(names)),
        )
        return cur.rowcount
