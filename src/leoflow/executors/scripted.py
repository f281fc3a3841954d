"""An in-process executor whose tasks follow a script: for tests and scheduler benchmarks.

It starts no process: each launch becomes an asyncio task that reports ``running``, waits the
scripted duration (heartbeating like an agent) and reports the scripted outcome, through the
very same reporter the gRPC agent service uses. That exercises the scheduler's whole path —
planning, dispatch, guarded transitions, retries, wake-ups — without agent start-up noise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

from leoflow.executors.base import TaskLaunch
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.states import TaskState
from leoflow.store.pool import Database
from leoflow.store.task_instances import record_heartbeat


@dataclass(frozen=True)
class Step:
    """What one try does: how long it runs and how it ends."""

    outcome: TaskState = TaskState.SUCCESS
    seconds: float = 0.0
    vanish: bool = False
    """Accept the launch and never report anything (a lost dispatch)."""


Script = Callable[[TaskLaunch], Step]


def always_succeed(_: TaskLaunch) -> Step:
    """The default script: every try succeeds at once."""
    return Step()


@dataclass
class LaunchRecord:
    """A launch as the executor saw it (tests assert on these)."""

    launch: TaskLaunch
    submitted_at: float
    finished_at: float | None = None


@dataclass
class ScriptedExecutor:
    """Runs tries as coroutines that report through ``reporter``."""

    reporter: TaskReporter
    db: Database
    script: Script = always_succeed
    heartbeat_seconds: float = 0.5
    name: str = "scripted"
    launches: list[LaunchRecord] = field(default_factory=list)
    on_submit: Callable[[TaskLaunch], Awaitable[None]] | None = None
    _tasks: dict[tuple[UUID, int], asyncio.Task[None]] = field(default_factory=dict)

    async def submit(self, launch: TaskLaunch) -> None:
        record = LaunchRecord(launch, time.perf_counter())
        self.launches.append(record)
        if self.on_submit is not None:
            await self.on_submit(launch)
        task = asyncio.create_task(self._run(launch, record))
        self._tasks[(launch.ti_id, launch.try_number)] = task
        task.add_done_callback(lambda _: self._tasks.pop((launch.ti_id, launch.try_number), None))

    async def _run(self, launch: TaskLaunch, record: LaunchRecord) -> None:
        step = self.script(launch)
        if step.vanish:
            return
        await self.reporter.report(launch.ti_id, launch.try_number, TaskState.RUNNING)
        deadline = time.monotonic() + step.seconds
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, self.heartbeat_seconds))
            await record_heartbeat(self.db, launch.ti_id, launch.try_number)
        await self.reporter.report(launch.ti_id, launch.try_number, step.outcome)
        record.finished_at = time.perf_counter()

    async def cancel(self, ti_id: UUID, try_number: int) -> None:
        task = self._tasks.pop((ti_id, try_number), None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
