"""Testing a connection: a reachability probe, run at once or enqueued and polled.

The control plane never runs provider hooks (that would be user code), so a connection test is
what can be checked from here without them: that ``host:port`` accepts a TCP connection within
a few seconds. ``POST /connections/test`` runs it and answers; ``POST /connections/enqueue-test``
records a ``pending`` test, runs the same probe in the background and stores the outcome for
``GET /connections/enqueue-test`` to poll (from any replica: the outcome is in the database).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from leoflow.store import connection_tests as store
from leoflow.store.pool import Database
from leoflow.telemetry import get_logger

log = get_logger(__name__)

PROBE_TIMEOUT_SECONDS = 5.0
ABANDONED_AFTER_SECONDS = 60.0
"""An active test not updated for this long was left by a process that stopped."""
ABANDONED = "The test was interrupted (the server running it stopped); enqueue it again"

Commit = Callable[[], Awaitable[None]]
"""Saves the tested connection (``commit_on_success``); raises to report a failure."""


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one test and its message for people."""

    ok: bool
    message: str


async def probe(host: str | None, port: int | None) -> ProbeResult:
    """Whether ``host:port`` accepts a TCP connection within ``PROBE_TIMEOUT_SECONDS``."""
    if not host or port is None:
        return ProbeResult(False, "Connection has no host and port to test")
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        return ProbeResult(False, f"Cannot reach {host}:{port}: {reason}")
    writer.close()
    await writer.wait_closed()
    return ProbeResult(True, f"Connection successfully tested ({host}:{port} reachable)")


@dataclass(frozen=True)
class ProbeTarget:
    """What an enqueued test probes, and what to do when it succeeds."""

    connection_id: str
    host: str | None
    port: int | None
    commit: Commit | None = None


class ConnectionTester:
    """Runs enqueued tests in the background of this process and records their outcome."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._running: set[asyncio.Task[None]] = set()

    async def enqueue(
        self, tenant_id: UUID, target: ProbeTarget, *, requested_by: str | None = None
    ) -> store.ConnectionTestRow:
        """Record a ``pending`` test and start it; :class:`store.ActiveTestExistsError` when a
        test of that connection is already active."""
        await store.fail_abandoned(self._db, ABANDONED_AFTER_SECONDS, ABANDONED)
        row = await store.enqueue(
            self._db,
            tenant_id,
            secrets.token_urlsafe(32),
            target.connection_id,
            commit_on_success=target.commit is not None,
            requested_by=requested_by,
        )
        task = asyncio.create_task(self._run(row.id, target), name=f"connection-test-{row.id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return row

    async def _run(self, test_id: UUID, target: ProbeTarget) -> None:
        try:
            await store.set_state(self._db, test_id, "running")
            result = await probe(target.host, target.port)
            if result.ok and target.commit is not None:
                await target.commit()
                result = ProbeResult(True, f"{result.message}; connection saved")
            await store.set_state(
                self._db, test_id, "success" if result.ok else "failed", result.message
            )
        except Exception as exc:  # the outcome is reported to the poller, never lost
            log.warning("connection test failed", test_id=str(test_id), error=str(exc))
            await store.set_state(self._db, test_id, "failed", f"The test could not run: {exc}")

    async def wait_idle(self) -> None:
        """Wait for the tests running now (shutdown, tests)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
