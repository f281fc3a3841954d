"""Variables: per-tenant key/value pairs (values are text; JSON is kept as its text)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row

from leoflow.store._listing import OrderBy, contains_condition, order_clause, prefix_condition
from leoflow.store.pool import Database, acquire

COLUMNS = "id, tenant_id, key, value, description, is_encrypted, created_at, updated_at"

SORT_COLUMNS: Mapping[str, str] = {
    "key": "key",
    "id": "created_at",
    "_val": "value",
    "description": "description",
    "is_encrypted": "is_encrypted",
    "team_name": "NULL::text",
}
"""Attributes a list can be ordered by (Airflow's names) and their SQL."""

_UPDATABLE = ("value", "description", "is_encrypted")


class VariableExistsError(ValueError):
    """A variable with that key already exists in the tenant."""


@dataclass(frozen=True)
class Variable:
    """A variable row."""

    id: UUID
    tenant_id: UUID
    key: str
    value: str | None
    description: str | None
    is_encrypted: bool
    created_at: datetime
    updated_at: datetime


async def list_variables(
    db: Database,
    tenant_id: UUID,
    *,
    key_pattern: str | None = None,
    key_prefix: str | None = None,
    order_by: OrderBy = (("id", False),),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Variable], int]:
    """One page of the tenant's variables and the total count matching the filters."""
    where = ["tenant_id = %(tenant_id)s"]
    params: dict[str, Any] = {"tenant_id": tenant_id, "limit": limit, "offset": offset}
    if key_pattern:
        sql, values = contains_condition("key", key_pattern, "pattern")
        where.append(sql)
        params.update(values)
    if key_prefix:
        sql, values = prefix_condition("key", key_prefix, "prefix")
        where.append(sql)
        params.update(values)
    condition = " AND ".join(where)
    order = order_clause(order_by, SORT_COLUMNS, "id")
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT count(*) FROM variables WHERE {condition}", params)
        total_row = await cur.fetchone()
        rows_cur = conn.cursor(row_factory=class_row(Variable))
        await rows_cur.execute(
            f"SELECT {COLUMNS} FROM variables WHERE {condition} {order} "
            "LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        rows = await rows_cur.fetchall()
    return rows, int(total_row[0]) if total_row else 0


async def get_variable(db: Database, tenant_id: UUID, key: str) -> Variable | None:
    """The variable ``key`` of the tenant, if any."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Variable))
        await cur.execute(
            f"SELECT {COLUMNS} FROM variables WHERE tenant_id = %s AND key = %s", (tenant_id, key)
        )
        return await cur.fetchone()


async def get_variables(db: Database, tenant_id: UUID, keys: Iterable[str]) -> dict[str, Variable]:
    """The variables among ``keys`` that exist, by key."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Variable))
        await cur.execute(
            f"SELECT {COLUMNS} FROM variables WHERE tenant_id = %s AND key = ANY(%s)",
            (tenant_id, list(keys)),
        )
        return {row.key: row for row in await cur.fetchall()}


async def create_variable(
    db: Database,
    tenant_id: UUID,
    key: str,
    value: str | None,
    description: str | None = None,
    *,
    is_encrypted: bool = False,
) -> Variable:
    """Insert a variable; :class:`VariableExistsError` if the key is taken.

    ``value`` is stored as given: when ``is_encrypted`` it is the sealed form (see
    :mod:`leoflow.secrets.variables`)."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Variable))
        await cur.execute(
            f"""
            INSERT INTO variables (tenant_id, key, value, description, is_encrypted)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id, key) DO NOTHING
            RETURNING {COLUMNS}
            """,
            (tenant_id, key, value, description, is_encrypted),
        )
        row = await cur.fetchone()
    if row is None:
        raise VariableExistsError(f"The Variable with key: `{key}` already exists")
    return row


async def upsert_variable(
    db: Database,
    tenant_id: UUID,
    key: str,
    value: str | None,
    description: str | None = None,
    *,
    is_encrypted: bool = False,
) -> Variable:
    """Insert or overwrite a variable (value, description and encryption flag)."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Variable))
        await cur.execute(
            f"""
            INSERT INTO variables (tenant_id, key, value, description, is_encrypted)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id, key) DO UPDATE
                SET value = EXCLUDED.value, description = EXCLUDED.description,
                    is_encrypted = EXCLUDED.is_encrypted
            RETURNING {COLUMNS}
            """,
            (tenant_id, key, value, description, is_encrypted),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def update_variable(
    db: Database, tenant_id: UUID, key: str, changes: Mapping[str, Any]
) -> Variable | None:
    """Set the given fields (``value``, ``description``, ``is_encrypted``); ``None`` if the key
    is unknown."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"variables have no updatable field {sorted(unknown)}")
    if not changes:
        return await get_variable(db, tenant_id, key)
    assignments = ", ".join(f"{field} = %({field})s" for field in _UPDATABLE if field in changes)
    params = {**changes, "tenant_id": tenant_id, "key": key}
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Variable))
        await cur.execute(
            f"""
            UPDATE variables SET {assignments}
            WHERE tenant_id = %(tenant_id)s AND key = %(key)s
            RETURNING {COLUMNS}
            """,
            params,
        )
        return await cur.fetchone()


async def delete_variable(db: Database, tenant_id: UUID, key: str) -> bool:
    """Delete a variable; ``False`` if it did not exist."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            "DELETE FROM variables WHERE tenant_id = %s AND key = %s", (tenant_id, key)
        )
        return cur.rowcount == 1


async def all_variables_for_update(db: Database) -> list[Variable]:
    """Every variable of every tenant, rows locked until the caller's transaction ends (for
    key rotation)."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(Variable))
        await cur.execute(f"SELECT {COLUMNS} FROM variables ORDER BY id FOR UPDATE")
        return await cur.fetchall()
