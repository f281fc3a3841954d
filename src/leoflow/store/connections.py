"""Connections: per-tenant endpoints and credentials; secrets are stored sealed.

This module never sees a plaintext ``password`` or ``extra``: callers seal them with
:mod:`leoflow.secrets` (binding each ciphertext to the row id, which is why ids are chosen by
the caller on insert) and open them after reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row

from leoflow.store._listing import OrderBy, contains_condition, order_clause, prefix_condition
from leoflow.store.pool import Database, acquire

COLUMNS = (
    "id, tenant_id, conn_id, conn_type, description, host, schema, login, password_encrypted, "
    "port, extra_encrypted, created_at, updated_at"
)

SORT_COLUMNS: Mapping[str, str] = {
    "conn_id": "conn_id",
    "connection_id": "conn_id",
    "conn_type": "conn_type",
    "description": "description",
    "host": "host",
    "port": "port",
    "id": "created_at",
    "team_name": "NULL::text",
}
"""Attributes a list can be ordered by (Airflow's names) and their SQL."""

UPDATABLE = (
    "conn_type",
    "description",
    "host",
    "schema",
    "login",
    "port",
    "password_encrypted",
    "extra_encrypted",
)


class ConnectionExistsError(ValueError):
    """A connection with that id already exists in the tenant."""


@dataclass(frozen=True)
class Connection:
    """A connection row, secrets still sealed."""

    id: UUID
    tenant_id: UUID
    conn_id: str
    conn_type: str
    description: str | None
    host: str | None
    schema: str | None
    login: str | None
    password_encrypted: bytes | None
    port: int | None
    extra_encrypted: bytes | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewConnection:
    """What an insert needs; ``id`` is chosen by the caller (the ciphertexts are bound to it)."""

    id: UUID
    tenant_id: UUID
    conn_id: str
    conn_type: str
    description: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password_encrypted: bytes | None = None
    port: int | None = None
    extra_encrypted: bytes | None = None


async def list_connections(
    db: Database,
    tenant_id: UUID,
    *,
    conn_id_pattern: str | None = None,
    conn_id_prefix: str | None = None,
    order_by: OrderBy = (("id", False),),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Connection], int]:
    """One page of the tenant's connections and the total count matching the filters."""
    where = ["tenant_id = %(tenant_id)s"]
    params: dict[str, Any] = {"tenant_id": tenant_id, "limit": limit, "offset": offset}
    if conn_id_pattern:
        sql, values = contains_condition("conn_id", conn_id_pattern, "pattern")
        where.append(sql)
        params.update(values)
    if conn_id_prefix:
        sql, values = prefix_condition("conn_id", conn_id_prefix, "prefix")
        where.append(sql)
        params.update(values)
    condition = " AND ".join(where)
    order = order_clause(order_by, SORT_COLUMNS, "id")
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT count(*) FROM connections WHERE {condition}", params)
        total_row = await cur.fetchone()
        rows_cur = conn.cursor(row_factory=class_row(Connection))
        await rows_cur.execute(
            f"SELECT {COLUMNS} FROM connections WHERE {condition} {order} "
            "LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        rows = await rows_cur.fetchall()
    return rows, int(total_row[0]) if total_row else 0


async def get_connection(db: Database, tenant_id: UUID, conn_id: str) -> Connection | None:
    """The connection ``conn_id`` of the tenant, if any."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Connection))
        await cur.execute(
            f"SELECT {COLUMNS} FROM connections WHERE tenant_id = %s AND conn_id = %s",
            (tenant_id, conn_id),
        )
        return await cur.fetchone()


async def get_connections(
    db: Database, tenant_id: UUID, conn_ids: Iterable[str]
) -> dict[str, Connection]:
    """The connections among ``conn_ids`` that exist, by id."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Connection))
        await cur.execute(
            f"SELECT {COLUMNS} FROM connections WHERE tenant_id = %s AND conn_id = ANY(%s)",
            (tenant_id, list(conn_ids)),
        )
        return {row.conn_id: row for row in await cur.fetchall()}


async def insert_connection(db: Database, new: NewConnection) -> Connection:
    """Insert a connection; :class:`ConnectionExistsError` if the id is taken in the tenant."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Connection))
        await cur.execute(
            f"""
            INSERT INTO connections (id, tenant_id, conn_id, conn_type, description, host,
                                     schema, login, password_encrypted, port, extra_encrypted)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id, conn_id) DO NOTHING
            RETURNING {COLUMNS}
            """,
            (
                new.id,
                new.tenant_id,
                new.conn_id,
                new.conn_type,
                new.description,
                new.host,
                new.schema,
                new.login,
                new.password_encrypted,
                new.port,
                new.extra_encrypted,
            ),
        )
        row = await cur.fetchone()
    if row is None:
        raise ConnectionExistsError(f"connection {new.conn_id!r} already exists")
    return row


async def update_connection(
    db: Database, connection_id: UUID, changes: Mapping[str, Any]
) -> Connection | None:
    """Set the given columns of the row ``connection_id``; ``None`` if it is gone."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"connections have no updatable field {sorted(unknown)}")
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Connection))
        if not changes:
            await cur.execute(f"SELECT {COLUMNS} FROM connections WHERE id = %s", (connection_id,))
            return await cur.fetchone()
        assignments = ", ".join(f"{field} = %({field})s" for field in UPDATABLE if field in changes)
        await cur.execute(
            f"UPDATE connections SET {assignments} WHERE id = %(id)s RETURNING {COLUMNS}",
            {**changes, "id": connection_id},
        )
        return await cur.fetchone()


async def delete_connection(db: Database, tenant_id: UUID, conn_id: str) -> bool:
    """Delete a connection; ``False`` if it did not exist."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            "DELETE FROM connections WHERE tenant_id = %s AND conn_id = %s", (tenant_id, conn_id)
        )
        return cur.rowcount == 1


async def all_connections_for_update(db: Database) -> list[Connection]:
    """Every connection of every tenant, rows locked until the caller's transaction ends.

    For key rotation: pass a connection inside a transaction so no writer interleaves.
    """
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Connection))
        await cur.execute(f"SELECT {COLUMNS} FROM connections ORDER BY id FOR UPDATE")
        return await cur.fetchall()
