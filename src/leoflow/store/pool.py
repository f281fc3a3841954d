"""Connections: the psycopg 3 async pool, and the "connection or pool" argument of store functions.

Store functions take a :data:`Database`: either a connection (the caller owns the transaction,
so several calls can commit together) or a pool (the function borrows a connection for one
transaction that commits when it returns).

Round trips are the cost that matters on the per-task paths (a try makes a few dozen store
calls): a borrowed connection in a transaction pays ``BEGIN`` and ``COMMIT`` on top of its
statement, and a check before use. :func:`single_statement` lets a function that runs one
statement skip the first two (the statement is its own transaction), and the pool checks only
connections that sat idle long enough for the server to have gone away unnoticed.
"""

from __future__ import annotations

import time
import weakref
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


@asynccontextmanager
async def single_statement(db: Database) -> AsyncIterator[Connection]:
    """Like :func:`acquire`, for work that is one statement (or statements that need not commit
    together): a borrowed connection runs in autocommit, so the statement is its own
    transaction and ``BEGIN``/``COMMIT`` cost no round trips. A caller's connection is used as
    is, inside the caller's transaction."""
    if isinstance(db, AsyncConnection):
        yield db
        return
    async with db.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            if not conn.closed:
                await conn.set_autocommit(False)


CHECK_IDLE_AFTER_SECONDS = 2.0
"""A connection handed out less than this ago is not checked again before its next use: the
server cannot have restarted unnoticed in between (a restart takes longer, and a connection it
closed while in use is discarded when it comes back)."""


class _IdleCheck:
    """The pool's ``check``: a round trip only for a connection not handed out recently.

    (Not a ``reset`` callback noting returns: with one, psycopg_pool returns every connection
    through its background workers instead of at once, which made callers queue.)
    """

    def __init__(self, idle_seconds: float) -> None:
        self._idle_seconds = idle_seconds
        self._handed_out: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()

    async def check(self, conn: Connection) -> None:
        now = time.monotonic()
        last = self._handed_out.get(conn)
        self._handed_out[conn] = now
        if last is None or now - last >= self._idle_seconds:
            await AsyncConnectionPool.check_connection(conn)


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

    A connection not handed out for ``CHECK_IDLE_AFTER_SECONDS`` is checked on checkout, so a
    database restart costs one failed check instead of an error in the caller. Close the pool with
    ``await pool.close()`` (or ``async with``).
    """
    idle = _IdleCheck(CHECK_IDLE_AFTER_SECONDS)
    pool: Pool = AsyncConnectionPool(
        libpq_dsn(dsn),
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        kwargs={"application_name": application_name},
        check=idle.check,
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
