"""How state changes wake the scheduler: an in-process signal carrying the runs that changed.

A report handled in the leader's own process marks its run dirty here directly (microseconds);
reports handled by another replica arrive through PostgreSQL ``NOTIFY`` and are fed into the
same signal by the leader's listener. The scheduler then plans only the dirty runs. Nothing is
lost if a signal is: the periodic pass reconciles every active run.
"""

from __future__ import annotations

import asyncio
import time
from uuid import UUID


class SchedulerWakeup:
    """A set of dirty run ids plus an event that says "look now"."""

    def __init__(self) -> None:
        self._dirty: dict[UUID, float] = {}
        self._event = asyncio.Event()
        self._full_pass_requested = False

    def mark_run(self, run_uuid: UUID) -> None:
        """A task instance of this run changed state: plan the run as soon as possible."""
        self._dirty.setdefault(run_uuid, time.perf_counter())
        self._event.set()

    def request_full_pass(self) -> None:
        """Something outside one run changed (a trigger, an unpause): reconcile everything."""
        self._full_pass_requested = True
        self._event.set()

    async def wait_for_signal(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a signal; True when signalled."""
        if self._event.is_set():
            return True
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def drain(self) -> tuple[dict[UUID, float], bool]:
        """Take the dirty runs (with when each was first marked) and the full-pass request."""
        dirty, self._dirty = self._dirty, {}
        full, self._full_pass_requested = self._full_pass_requested, False
        self._event.clear()
        return dirty, full
