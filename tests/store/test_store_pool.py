"""The pool, the connection-or-pool argument, and tenants."""

from __future__ import annotations

import psycopg
import pytest

from leoflow.config import Settings
from leoflow.store.pool import Pool, acquire, create_pool_from_settings
from leoflow.store.tenants import TenantNotFoundError, get_default_tenant_id, get_tenant_id


async def test_pool_from_settings(database_url: str) -> None:
    settings = Settings(database_url=database_url, database_pool_max_size=3)
    pool = await create_pool_from_settings(settings)
    try:
        assert pool.max_size == 3
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT current_setting('application_name')")
            assert await cur.fetchone() == ("leoflow",)
    finally:
        await pool.close()


async def test_pool_from_settings_without_url_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="LEOFLOW_DATABASE_URL is not set"):
        await create_pool_from_settings(Settings(database_url=None))


async def test_store_functions_take_a_pool_or_a_connection(
    database_url: str, db_pool: Pool
) -> None:
    from_pool = await get_default_tenant_id(db_pool)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async with acquire(conn) as same:
            assert same is conn
        assert await get_default_tenant_id(conn) == from_pool
    with pytest.raises(TenantNotFoundError, match="no tenant named 'acme'"):
        await get_tenant_id(db_pool, "acme")
