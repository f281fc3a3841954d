"""DAG versions: immutable compiled specs (``dag.json``), numbered per DAG, de-duplicated by hash.

Registering the same spec twice (a re-push, a hot reload that changed nothing) returns the
existing version instead of minting a new number, so runs are not spread across identical
versions. The registered version becomes the DAG's ``latest_version_id`` — the one new runs use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from leoflow.store.pool import Database, acquire

COLUMNS = "id, dag_uuid, version_number, spec, spec_hash, image, created_at"


@dataclass(frozen=True)
class DagVersion:
    """One immutable version of a DAG: its spec (``dag.json``), hash and image."""

    id: UUID
    dag_uuid: UUID
    version_number: int
    spec: dict[str, Any]
    spec_hash: str
    image: str | None
    created_at: datetime


_INSERT_VERSION = f"""
    INSERT INTO dag_versions (dag_uuid, version_number, spec, spec_hash, image)
    SELECT %(dag_uuid)s, COALESCE(MAX(version_number), 0) + 1, %(spec)s::jsonb,
           %(spec_hash)s, %(image)s
    FROM dag_versions WHERE dag_uuid = %(dag_uuid)s
    ON CONFLICT (dag_uuid, spec_hash) DO NOTHING
    RETURNING {COLUMNS}
"""


async def register_dag_version(
    db: Database,
    tenant_id: UUID,
    dag_id: str,
    spec_json: str | Mapping[str, Any],
    spec_hash: str,
    *,
    image: str | None = None,
    paused_on_create: bool = True,
) -> tuple[DagVersion, bool]:
    """Store a compiled spec as the DAG's latest version; returns ``(version, created)``.

    Idempotent on ``spec_hash``: a known hash returns the existing version with
    ``created=False``. The DAG row is created if this is its first version, paused unless
    ``paused_on_create`` is false (Airflow's ``dags_are_paused_at_creation``). Version
    numbers are allocated under a lock on the DAG row, so concurrent pushes never collide.
    """
    spec: object = spec_json if isinstance(spec_json, str) else Jsonb(dict(spec_json))
    async with acquire(db) as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO dags (tenant_id, dag_id, is_paused) VALUES (%s, %s, %s) "
            "ON CONFLICT (tenant_id, dag_id) DO NOTHING",
            (tenant_id, dag_id, paused_on_create),
        )
        cur = await conn.execute(
            "SELECT id FROM dags WHERE tenant_id = %s AND dag_id = %s FOR UPDATE",
            (tenant_id, dag_id),
        )
        dag_row = await cur.fetchone()
        if dag_row is None:  # pragma: no cover - inserted just above in this transaction
            raise LookupError(f"DAG {dag_id!r} vanished while registering a version")
        dag_uuid: UUID = dag_row[0]
        versions = conn.cursor(row_factory=class_row(DagVersion))
        await versions.execute(
            _INSERT_VERSION,
            {"dag_uuid": dag_uuid, "spec": spec, "spec_hash": spec_hash, "image": image},
        )
        version = await versions.fetchone()
        created = version is not None
        if version is None:
            await versions.execute(
                f"SELECT {COLUMNS} FROM dag_versions WHERE dag_uuid = %s AND spec_hash = %s",
                (dag_uuid, spec_hash),
            )
            version = await versions.fetchone()
            if version is None:  # pragma: no cover - the conflict proves the row exists
                raise LookupError(f"version {spec_hash!r} of {dag_id!r} vanished")
        await conn.execute(
            "UPDATE dags SET latest_version_id = %(v)s "
            "WHERE id = %(d)s AND latest_version_id IS DISTINCT FROM %(v)s",
            {"v": version.id, "d": dag_uuid},
        )
    return version, created


async def get_dag_version(db: Database, version_id: UUID) -> DagVersion | None:
    """A version by its id."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(DagVersion))
        await cur.execute(f"SELECT {COLUMNS} FROM dag_versions WHERE id = %s", (version_id,))
        return await cur.fetchone()


async def get_latest_dag_version(db: Database, dag_uuid: UUID) -> DagVersion | None:
    """The version new runs of the DAG use (its ``latest_version_id``)."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(DagVersion))
        await cur.execute(
            f"SELECT {', '.join('v.' + c for c in COLUMNS.split(', '))} "
            "FROM dags d JOIN dag_versions v ON v.id = d.latest_version_id WHERE d.id = %s",
            (dag_uuid,),
        )
        return await cur.fetchone()
