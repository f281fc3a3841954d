"""Wake-ups across processes: PostgreSQL ``LISTEN``/``NOTIFY``.

A state report handled by any replica must wake the leader's scheduler within milliseconds;
``NOTIFY`` carries that nudge through the database everyone already shares. A wake-up is a
hint, never the truth: payloads are small (PostgreSQL caps them near 8 kB), a listener that
reconnects misses what was sent meanwhile, and the scheduler's 1 s tick covers any loss.

``NOTIFY`` is transactional: sent inside a transaction, it is delivered only on commit — so a
listener woken by it always sees the committed change.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from psycopg import AsyncConnection, sql

from leoflow.store.dsn import libpq_dsn
from leoflow.store.pool import Database, acquire

SCHEDULER_CHANNEL = "leoflow_scheduler"
"""Channel on which state changes wake the scheduler."""

MAX_PAYLOAD_BYTES = 7999
_CHANNEL = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Wakeup:
    """One notification: its channel, payload and the sending server process."""

    channel: str
    payload: str
    pid: int


def _check_channel(channel: str) -> str:
    if not _CHANNEL.match(channel):
        raise ValueError(
            f"invalid channel {channel!r}: use lower-case letters, digits and _ (max 63)"
        )
    return channel


async def notify(db: Database, channel: str, payload: str = "") -> None:
    """Send ``payload`` to every listener of ``channel`` (on commit, if in a transaction)."""
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"notification payload is {len(payload.encode())} bytes; the limit is "
            f"{MAX_PAYLOAD_BYTES}: send an id and let the listener read the rest"
        )
    async with acquire(db) as conn:
        await conn.execute("SELECT pg_notify(%s, %s)", (_check_channel(channel), payload))


class Listener:
    """A dedicated autocommit connection listening on one or more channels.

    Use as ``async with listen(dsn, SCHEDULER_CHANNEL) as listener:`` then either
    ``async for wakeup in listener`` or ``await listener.get(within=seconds)`` (``None`` on timeout,
    which is how a loop combines wake-ups with its safety-net tick). Notifications that arrive
    between two ``get`` calls are queued by the connection, not lost.
    """

    def __init__(self, dsn: str, *channels: str) -> None:
        if not channels:
            raise ValueError("listen to at least one channel")
        self._dsn = libpq_dsn(dsn)
        self._channels = tuple(_check_channel(c) for c in channels)
        self._conn: AsyncConnection[Any] | None = None

    async def open(self) -> None:
        """Connect and ``LISTEN``; notifications sent from now on will be received."""
        if self._conn is not None:
            return
        conn = await AsyncConnection.connect(
            self._dsn, autocommit=True, application_name="leoflow-listener"
        )
        try:
            for channel in self._channels:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        """Stop listening and close the connection (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None:
            raise RuntimeError("listener is not open: use `async with listen(...)`")
        return self._conn

    async def get(self, within: float | None = None) -> Wakeup | None:
        """The next notification, or ``None`` if none arrives ``within`` seconds."""
        async for note in self._connection().notifies(timeout=within, stop_after=1):
            return Wakeup(note.channel, note.payload, note.pid)
        return None

    async def __aiter__(self) -> AsyncIterator[Wakeup]:
        async for note in self._connection().notifies():
            yield Wakeup(note.channel, note.payload, note.pid)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def listen(dsn: str, *channels: str) -> Listener:
    """A :class:`Listener` on ``channels``; open it with ``async with``."""
    return Listener(dsn, *channels)
