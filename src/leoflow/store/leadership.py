"""Leader election: a PostgreSQL advisory lock held by a dedicated connection, and a watchdog.

Only the leader schedules. Leadership *is* the session advisory lock: PostgreSQL releases it
the moment the holding session ends, so a crashed or partitioned leader can never block the
others for longer than the server takes to notice the dead session. The connection is
dedicated (never from the pool, which could hand it to someone else or recycle it) and in
autocommit (no transaction left open for hours).

The other half is knowing *we* lost it. A watchdog pings the connection every
``watchdog_interval`` seconds — asking the server whether this session still holds the lock —
and on any error, timeout or negative answer steps down at once: :attr:`LeaderLease.lost` is
set, ``on_lost`` is called, the connection is closed. A leader that cannot reach the database
cannot safely schedule anyway, and another replica may already have taken over.

Advisory locks need a direct session: behind PgBouncer use session pooling for this connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import AsyncConnection

from leoflow.config import Settings
from leoflow.store.dsn import libpq_dsn

_log = logging.getLogger(__name__)

_HOLDS_LOCK = """
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
          AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1
    )
"""


def _lock_parts(key: int) -> tuple[int, int]:
    """How ``pg_locks`` shows a bigint advisory key: high and low 32 bits (unsigned)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


class LeaderLease:
    """One contender for leadership; at most one lease per lock key is held at a time.

    Typical use::

        async with LeaderLease.from_settings(settings, on_lost=stop_scheduling) as lease:
            while not await lease.try_acquire():
                await asyncio.sleep(retry_seconds)
            ...  # lead until lease.lost is set

    Leaving the ``async with`` block releases the lock.
    """

    def __init__(
        self,
        dsn: str,
        key: int,
        *,
        watchdog_interval: float = 2.0,
        ping_timeout: float | None = None,
        connect_timeout: float = 10.0,
        on_lost: Callable[[], object] | None = None,
        application_name: str = "leoflow-leader",
    ) -> None:
        self._dsn = libpq_dsn(dsn)
        self._key = key
        self._interval = watchdog_interval
        self._ping_timeout = ping_timeout if ping_timeout is not None else watchdog_interval
        self._connect_timeout = connect_timeout
        self._on_lost = on_lost
        self._application_name = application_name
        self._conn: AsyncConnection[Any] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._leader = False
        self.lost = asyncio.Event()
        """Set when leadership is lost involuntarily (cleared on the next acquisition)."""

    @classmethod
    def from_settings(
        cls, settings: Settings, *, on_lost: Callable[[], object] | None = None
    ) -> Self:
        """A lease on ``leader_lock_key`` watched every ``leader_watchdog_interval_seconds``."""
        dsn = settings.database_dsn()
        if dsn is None:
            raise ValueError("LEOFLOW_DATABASE_URL is not set: leadership needs PostgreSQL")
        return cls(
            dsn,
            settings.leader_lock_key,
            watchdog_interval=settings.leader_watchdog_interval_seconds,
            on_lost=on_lost,
        )

    @property
    def is_leader(self) -> bool:
        """Whether this lease holds the lock (as far as the watchdog last knew)."""
        return self._leader

    @property
    def backend_pid(self) -> int | None:
        """Server process id of the lock-holding session (for diagnostics and tests)."""
        return self._conn.info.backend_pid if self._conn is not None else None

    async def try_acquire(self) -> bool:
        """Try once to become leader; ``True`` if this lease now holds the lock.

        Never waits for the current leader. A database that cannot be reached counts as
        "not acquired" (logged), so a follower's retry loop survives outages.
        """
        if self._leader:
            return True
        try:
            conn = await AsyncConnection.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=max(1, round(self._connect_timeout)),
                application_name=self._application_name,
            )
        except psycopg.OperationalError as exc:
            _log.warning("leader election: cannot connect to the database: %s", exc)
            return False
        try:
            cur = await asyncio.wait_for(
                conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)),
                self._connect_timeout,
            )
            row = await cur.fetchone()
        except (psycopg.Error, TimeoutError) as exc:
            _log.warning("leader election: lock attempt failed: %s", exc)
            await self._close(conn)
            return False
        if row is None or not row[0]:
            await self._close(conn)
            return False
        self._conn = conn
        self._leader = True
        self.lost.clear()
        self._watchdog = asyncio.create_task(self._watch(conn), name="leoflow-leader-watchdog")
        _log.info("leader election: acquired leadership (lock key %s)", self._key)
        return True

    async def release(self) -> None:
        """Give leadership up voluntarily (idempotent); ``on_lost`` is not called."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not asyncio.current_task():
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        conn, self._conn = self._conn, None
        was_leader, self._leader = self._leader, False
        if conn is None:
            return
        if was_leader and not conn.closed:
            with contextlib.suppress(psycopg.Error, TimeoutError):
                await asyncio.wait_for(
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,)),
                    self._ping_timeout,
                )
        await self._close(conn)

    async def _watch(self, conn: AsyncConnection[Any]) -> None:
        classid, objid = _lock_parts(self._key)
        while True:
            await asyncio.sleep(self._interval)
            try:
                cur = await asyncio.wait_for(
                    conn.execute(_HOLDS_LOCK, (classid, objid)), self._ping_timeout
                )
                row = await cur.fetchone()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._step_down(f"connection check failed: {exc!r}")
                return
            if row is None or not row[0]:
                await self._step_down("the session no longer holds the advisory lock")
                return

    async def _step_down(self, reason: str) -> None:
        """Leadership is gone: say so first, then clean up."""
        if not self._leader:
            return
        self._leader = False
        self.lost.set()
        _log.warning("leader election: lost leadership: %s", reason)
        if self._on_lost is not None:
            try:
                outcome = self._on_lost()
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                _log.exception("leader election: on_lost callback failed")
        conn, self._conn = self._conn, None
        self._watchdog = None
        if conn is not None:
            await self._close(conn)

    @staticmethod
    async def _close(conn: AsyncConnection[Any]) -> None:
        with contextlib.suppress(Exception):
            await conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()
