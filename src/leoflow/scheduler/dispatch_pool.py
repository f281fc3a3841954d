"""A bounded asyncio queue with N workers in front of the executor.

Planning never waits on an executor: it offers launches to this pool, and when the queue is
full the task instance simply stays ``scheduled`` for a later pass (backpressure). A worker
that fails to launch a try reports the failure through ``on_error`` so the try fails (or
retries) with the executor's message instead of sitting ``queued`` forever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from leoflow.executors.base import Executor, TaskLaunch
from leoflow.telemetry import get_logger, get_tracer
from leoflow.telemetry.metrics import DISPATCH_LATENCY, DISPATCH_QUEUE_DEPTH
from leoflow.telemetry.tracing import try_context

ErrorHandler = Callable[[TaskLaunch, BaseException], Awaitable[None]]

log = get_logger(__name__)
tracer = get_tracer(__name__)


class DispatchPool:
    """Bounded queue of launches and the workers that submit them to the executor."""

    def __init__(
        self, executor: Executor, on_error: ErrorHandler, *, queue_size: int, workers: int
    ) -> None:
        self._executor = executor
        self._on_error = on_error
        self._queue: asyncio.Queue[tuple[TaskLaunch, float]] = asyncio.Queue(queue_size)
        self._worker_count = workers
        self._workers: list[asyncio.Task[None]] = []
        self._busy = 0

    def start(self) -> None:
        """Start the workers (idempotent)."""
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"dispatch-{i}")
                for i in range(self._worker_count)
            ]

    async def stop(self) -> None:
        """Stop the workers; launches still queued stay ``queued`` for the dispatch-lost reaper."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def free_slots(self) -> int:
        """How many more launches the queue accepts right now."""
        return max(self._queue.maxsize - self._queue.qsize(), 0)

    def offer(self, launch: TaskLaunch) -> bool:
        """Queue a launch; False when the queue is full (the caller leaves it for later)."""
        try:
            self._queue.put_nowait((launch, time.perf_counter()))
        except asyncio.QueueFull:
            return False
        DISPATCH_QUEUE_DEPTH.set(self._queue.qsize())
        return True

    async def _work(self) -> None:
        while True:
            launch, queued_at = await self._queue.get()
            DISPATCH_QUEUE_DEPTH.set(self._queue.qsize())
            self._busy += 1
            try:
                await self._submit(launch)
                DISPATCH_LATENCY.observe(time.perf_counter() - queued_at)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an executor failure fails this try, never the pool
                log.warning(
                    "dispatch failed",
                    dag_id=launch.dag_id,
                    run_id=launch.run_id,
                    task_id=launch.task_id,
                    try_number=launch.try_number,
                    error=str(exc),
                )
                await self._on_error(launch, exc)
            finally:
                self._busy -= 1
                self._queue.task_done()

    async def _submit(self, launch: TaskLaunch) -> None:
        """Hand the try to the executor inside its ``executor.submit`` span (a child of the
        try's root), with the try's correlation fields on every log line said meanwhile."""
        fields: dict[str, str | int] = {
            "dag_id": launch.dag_id,
            "run_id": launch.run_id,
            "task_id": launch.task_id,
            "try_number": launch.try_number,
        }
        with (
            structlog.contextvars.bound_contextvars(**fields),
            tracer.start_as_current_span(
                "executor.submit",
                context=try_context(launch.ti_id, launch.try_number),
                attributes={
                    "leoflow.executor": getattr(self._executor, "name", "unknown"),
                    "leoflow.task_type": launch.task_type,
                    **{f"leoflow.{name}": value for name, value in fields.items()},
                },
            ),
        ):
            await self._executor.submit(launch)
