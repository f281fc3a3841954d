"""The executor interface the dispatch pool talks to.

An executor receives one ``TaskLaunch`` per queued try and must start it (a process, a pod, an
HTTP call) or raise ``ExecutorRefused``. It never writes task state itself except through the
same state-report path the agent uses, so the guarded transitions stay the only way state moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


class ExecutorRefused(RuntimeError):
    """The executor cannot start this try (no capacity, bad spec, API down); says why."""


@dataclass(frozen=True, slots=True)
class TaskLaunch:
    """Everything an executor needs to start one try of one task instance."""

    ti_id: UUID
    run_uuid: UUID
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    task_type: str
    dag_version_id: UUID
    logical_date: datetime | None
    task_spec: dict[str, Any] = field(default_factory=dict)
    traceparent: str = ""
    """W3C trace context of the try's root span (derived at dispatch); executors hand it to the
    agent so the agent's spans and calls join the try's trace."""


class Executor(Protocol):
    """Starts tries; the outcome comes back through state reports, not return values."""

    name: str

    async def submit(self, launch: TaskLaunch) -> None:
        """Start the try (return once it is launched, not when it ends)."""

    async def cancel(self, ti_id: UUID, try_number: int) -> None:
        """Stop the try if it is still running (cleared or marked failed)."""

    async def close(self) -> None:
        """Stop accepting work and release resources."""
