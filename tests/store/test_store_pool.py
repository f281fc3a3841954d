"""The pool, the connection-or-pool argument, and tenants."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from leoflow.config import Settings
from leoflow.store import pool as pool_module
from leoflow.store.pool import (
    Pool,
    acquire,
    create_pool,
    create_pool_from_settings,
    single_statement,
)
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


async def test_single_statement_skips_the_transaction_and_restores_the_connection(
    database_url: str, db_pool: Pool
) -> None:
    async with single_statement(db_pool) as conn:
        assert conn.autocommit
        await conn.execute("SELECT 1")
        assert conn.pgconn.transaction_status == TransactionStatus.IDLE  # nothing left open
    assert not conn.autocommit  # what the next borrower of the pool expects
    async with (
        await psycopg.AsyncConnection.connect(database_url) as own,
        single_statement(own) as same,
    ):
        assert same is own and not own.autocommit  # the caller's transaction, as is


async def test_a_connection_idle_in_the_pool_is_checked_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "CHECK_IDLE_AFTER_SECONDS", 0.1)
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT pg_backend_pid()")
            row = await cur.fetchone()
        assert row is not None
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
        await asyncio.sleep(0.3)  # idle long enough to be checked: the dead one is replaced
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT pg_backend_pid()")
            again = await cur.fetchone()
        assert again is not None and again[0] != row[0]
    finally:
        await pool.close()
