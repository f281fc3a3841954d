"""DAGs: one row per ``(tenant, dag_id)``, holding what is not versioned (pause flag, tags …).

The DAG's definition lives in immutable :mod:`dag_versions`; ``latest_version_id`` points at the
version new runs use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg.rows import class_row

from leoflow.store.pool import Database, acquire

COLUMNS = (
    "id, tenant_id, dag_id, description, is_paused, is_active, latest_version_id, "
    "owners, tags, created_at, updated_at"
)


@dataclass(frozen=True)
class Dag:
    """A DAG row. ``id`` is the internal UUID; ``dag_id`` the Airflow-facing name."""

    id: UUID
    tenant_id: UUID
    dag_id: str
    description: str | None
    is_paused: bool
    is_active: bool
    latest_version_id: UUID | None
    owners: tuple[str, ...]
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        # Postgres arrays arrive as lists; keep the row immutable all the way down.
        object.__setattr__(self, "owners", tuple(self.owners))
        object.__setattr__(self, "tags", tuple(self.tags))


async def upsert_dag(
    db: Database,
    tenant_id: UUID,
    dag_id: str,
    *,
    description: str | None = None,
    owners: Sequence[str] = (),
    tags: Sequence[str] = (),
    paused_on_create: bool = True,
) -> Dag:
    """Create the DAG or refresh its descriptive fields; marks it active again.

    ``paused_on_create`` applies only to a new DAG (Airflow pauses new DAGs by default); an
    existing DAG keeps the pause flag a person set.
    """
    query = f"""
        INSERT INTO dags (tenant_id, dag_id, description, owners, tags, is_paused)
        VALUES (%(tenant_id)s, %(dag_id)s, %(description)s, %(owners)s, %(tags)s, %(paused)s)
        ON CONFLICT (tenant_id, dag_id) DO UPDATE
            SET description = EXCLUDED.description,
                owners = EXCLUDED.owners,
                tags = EXCLUDED.tags,
                is_active = true
        RETURNING {COLUMNS}
    """
    params = {
        "tenant_id": tenant_id,
        "dag_id": dag_id,
        "description": description,
        "owners": list(owners),
        "tags": list(tags),
        "paused": paused_on_create,
    }
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Dag))
        await cur.execute(query, params)
        row = await cur.fetchone()
    assert row is not None  # INSERT … ON CONFLICT DO UPDATE always returns the row
    return row


async def get_dag(db: Database, tenant_id: UUID, dag_id: str) -> Dag | None:
    """The DAG called ``dag_id`` in the tenant, if any."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Dag))
        await cur.execute(
            f"SELECT {COLUMNS} FROM dags WHERE tenant_id = %s AND dag_id = %s", (tenant_id, dag_id)
        )
        return await cur.fetchone()


async def set_dag_paused(db: Database, tenant_id: UUID, dag_id: str, paused: bool) -> Dag | None:
    """Pause or unpause a DAG; ``None`` when no such DAG exists."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Dag))
        await cur.execute(
            f"""
            UPDATE dags SET is_paused = %s
            WHERE tenant_id = %s AND dag_id = %s
            RETURNING {COLUMNS}
            """,
            (paused, tenant_id, dag_id),
        )
        return await cur.fetchone()


async def set_dag_active(db: Database, tenant_id: UUID, dag_id: str, active: bool) -> Dag | None:
    """Mark a DAG active or stale (its source is gone); ``None`` when no such DAG exists.

    A stale DAG keeps its versions and history but is neither scheduled nor triggerable;
    registering a version (``upsert_dag``) makes it active again.
    """
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Dag))
        await cur.execute(
            f"""
            UPDATE dags SET is_active = %s
            WHERE tenant_id = %s AND dag_id = %s
            RETURNING {COLUMNS}
            """,
            (active, tenant_id, dag_id),
        )
        return await cur.fetchone()
