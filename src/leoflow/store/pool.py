"""Connections: the psycopg 3 async pool, and the "connection or pool" argument of store functions.

Store functions take a :data:`Database`: either a connection (the caller owns the transaction,
so several calls can commit together) or a pool (the function borrows a connection for one
transaction that commits when it returns).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from leoflow.config import Settings
from leoflow.store.dsn import libpq_dsn

Connection: TypeAlias = AsyncConnection[Any]
Pool: TypeAlias = AsyncConnectionPool[AsyncConnection[Any]]
Database: TypeAlias = Connection | Pool
"""What store functions accept: a connection (caller's transaction) or a pool."""


@asynccontextmanager
async def acquire(db: Database) -> AsyncIterator[Connection]:
    """The connection itself, or one borrowed from the pool (committed on success)."""
    if isinstance(db, AsyncConnection):
        yield db
        return
    async with db.connection() as conn:
        yield conn


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "leoflow",
    application_name: str = "leoflow",
    open_timeout: float = 30.0,
) -> Pool:
    """Open an async pool on ``dsn`` and wait until its first connections work.

    Connections are checked on checkout, so a database restart costs one failed check instead
    of an error in the caller. Close the pool with ``await pool.close()`` (or ``async with``).
    """
    pool: Pool = AsyncConnectionPool(
        libpq_dsn(dsn),
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        kwargs={"application_name": application_name},
        check=AsyncConnectionPool.check_connection,
    )
    await pool.open(wait=True, timeout=open_timeout)
    return pool


async def create_pool_from_settings(settings: Settings, **kwargs: Any) -> Pool:
    """A pool sized by ``database_pool_min_size``/``database_pool_max_size`` of the settings."""
    dsn = settings.database_dsn()
    if dsn is None:
        raise ValueError(
            "LEOFLOW_DATABASE_URL is not set: point it at PostgreSQL, "
            "e.g. postgresql://leoflow:secret@localhost:5432/leoflow"
        )
    return await create_pool(
        dsn,
        min_size=settings.database_pool_min_size,
        max_size=settings.database_pool_max_size,
        **kwargs,
    )
