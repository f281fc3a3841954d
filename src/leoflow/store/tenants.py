"""Tenants: the scope of every top-level aggregate (DAGs, variables, connections, roles).

A fresh install has exactly one tenant, ``default`` (created by the initial migration); Lite
never sees any other.
"""

from __future__ import annotations

from uuid import UUID

from leoflow.store.pool import Database, acquire

DEFAULT_TENANT = "default"


class TenantNotFoundError(LookupError):
    """No tenant of that name exists."""


async def get_tenant_id(db: Database, name: str) -> UUID:
    """The id of the tenant called ``name``."""
    async with acquire(db) as conn:
        cur = await conn.execute("SELECT id FROM tenants WHERE name = %s", (name,))
        row = await cur.fetchone()
    if row is None:
        raise TenantNotFoundError(
            f"no tenant named {name!r}; is the database migrated (`leoflow db migrate`)?"
        )
    tenant_id: UUID = row[0]
    return tenant_id


async def get_default_tenant_id(db: Database) -> UUID:
    """The id of the ``default`` tenant (the only one in Lite)."""
    return await get_tenant_id(db, DEFAULT_TENANT)
