"""How state changes wake the scheduler: an in-process signal carrying the runs that changed.

A report handled in the leader's own process marks its run dirty here directly (microseconds),
naming the task that changed; reports handled by another replica arrive through PostgreSQL
``NOTIFY`` and are fed into the same signal by the leader's listener. The scheduler then plans
only the dirty runs: a run whose changed tasks are all named is planned from those tasks and
their neighbours, any other dirty run in full. Nothing is lost if a signal is: the periodic
pass reconciles every active run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from uuid import UUID


@dataclass
class Drained:
    """What accumulated since the last pass."""

    dirty: dict[UUID, float] = field(default_factory=dict)
    """Dirty runs, with when each was first marked (``perf_counter``)."""
    changed: dict[UUID, frozenset[str]] = field(default_factory=dict)
    """Dirty runs whose every change named its task: run → the tasks that changed. A dirty run
    absent from here must be planned in full."""
    full: bool = False
    """A full pass was asked for."""


class SchedulerWakeup:
    """A set of dirty run ids (with the tasks that changed, when known) plus an event that says
    "look now"."""

    def __init__(self) -> None:
        self._dirty: dict[UUID, float] = {}
        self._changed: dict[UUID, set[str] | None] = {}
        self._event = asyncio.Event()
        self._full_pass_requested = False

    def mark_run(self, run_uuid: UUID) -> None:
        """Something in this run changed (unknown what): plan all of it as soon as possible."""
        self._dirty.setdefault(run_uuid, time.perf_counter())
        self._changed[run_uuid] = None
        self._event.set()

    def mark_task(self, run_uuid: UUID, task_id: str) -> None:
        """The task instance ``task_id`` of this run changed state: plan from it."""
        self._dirty.setdefault(run_uuid, time.perf_counter())
        tasks = self._changed.setdefault(run_uuid, set())
        if tasks is not None:
            tasks.add(task_id)
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

    def drain(self) -> Drained:
        """Take the dirty runs, the tasks that changed in them and the full-pass request."""
        dirty, self._dirty = self._dirty, {}
        changed, self._changed = self._changed, {}
        full, self._full_pass_requested = self._full_pass_requested, False
        self._event.clear()
        return Drained(
            dirty=dirty,
            changed={run: frozenset(tasks) for run, tasks in changed.items() if tasks},
            full=full,
        )
