"""Task state reports: the one path by which a try's outcome reaches the database.

The agent service (for real agents) and the in-process executors call ``TaskReporter.report``.
Each report is a guarded transition; a failed try becomes ``up_for_retry`` (with its due time)
while tries remain, else ``failed``. Whatever applies wakes the scheduler for that run, naming
the task that changed.
Duplicate terminal reports (an agent retrying its final report after a control-plane restart)
are acknowledged as already applied, never as errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.retries import failure_outcome
from leoflow.states import TaskState, TransitionRefusal
from leoflow.store.pool import Database, single_statement
from leoflow.store.task_instances import TransitionResult, transition_task_instance
from leoflow.telemetry.metrics import TASK_RETRIES, TASK_STATE_TRANSITIONS
from leoflow.telemetry.tries import TryRef, try_finished, try_started

REPORTABLE_STATES = frozenset(
    {TaskState.RUNNING, TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED}
)
"""States an agent (or executor) may report for its own try."""

_FINAL = frozenset({TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED, TaskState.UP_FOR_RETRY})


@dataclass(frozen=True)
class TaskIdentity:
    """Where a task instance lives: enough to find its retry policy and wake its run."""

    ti_id: UUID
    run_uuid: UUID
    task_id: str
    dag_version_id: UUID
    state: TaskState
    try_number: int
    dag_id: str = ""
    run_id: str = ""
    tenant: str | None = None
    max_tries: int | None = None
    """The task instance's ``max_tries`` (raised by a clear); ``None``: the policy decides."""


async def load_identity(db: Database, ti_id: UUID) -> TaskIdentity | None:
    """The task instance's run, task and DAG version (and the names its telemetry uses)."""
    async with single_statement(db) as conn:
        cur = await conn.execute(
            "SELECT ti.id, ti.run_uuid, ti.task_id, r.dag_version_id, ti.state, ti.try_number, "
            "d.dag_id, r.run_id, t.name, ti.max_tries "
            "FROM task_instances ti JOIN dag_runs r ON r.id = ti.run_uuid "
            "JOIN dags d ON d.id = r.dag_uuid JOIN tenants t ON t.id = d.tenant_id "
            "WHERE ti.id = %s",
            (ti_id,),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return TaskIdentity(
        row[0],
        row[1],
        row[2],
        row[3],
        TaskState(row[4]),
        int(row[5]),
        row[6],
        row[7],
        row[8],
        int(row[9]),
    )


def observe_transition(ref: TryRef, source: TaskState, result: TransitionResult) -> None:
    """Metrics, root span and log line of an applied move of a try (any writer)."""
    target = result.target
    if target is None:
        return
    TASK_STATE_TRANSITIONS.labels(source.value, target.value).inc()
    if target is TaskState.UP_FOR_RETRY:
        TASK_RETRIES.inc()
    row = result.task_instance
    if row is None:
        return
    if target is TaskState.RUNNING:
        try_started(ref, row.queued_at, row.start_date)
    elif target in _FINAL:
        try_finished(
            ref,
            target.value,
            queued_at=row.queued_at,
            start_date=row.start_date,
            end_date=row.end_date,
            duration=row.duration,
        )


RunWaker = Callable[[UUID], None]
TaskWaker = Callable[[UUID, str], None]


def _now() -> datetime:
    return datetime.now(UTC)


class TaskReporter:
    """Applies state reports and wakes the scheduler for the affected run."""

    def __init__(
        self,
        db: Database,
        catalog: DagCatalog,
        wake_run: RunWaker,
        clock: Callable[[], datetime] = _now,
        *,
        wake_task: TaskWaker | None = None,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._wake_run = wake_run
        self._wake_task = wake_task
        """When given, called instead of ``wake_run`` with the task that changed (the
        scheduler then plans from that task rather than reading the whole run)."""
        self._clock = clock
        self.last_terminal_report: dict[UUID, float] = {}
        """Run id → ``perf_counter`` of its latest terminal report (scheduling latency)."""

    async def report(
        self,
        ti_id: UUID,
        try_number: int,
        state: TaskState,
        *,
        hostname: str | None = None,
        pid: int | None = None,
        error: str | None = None,
        identity: TaskIdentity | None = None,
    ) -> TransitionResult:
        """Apply an agent's report for its try (``running`` or a final state).

        ``identity``: the task instance as the caller has just read it (the agent service
        does for every report), which saves reading it again.
        """
        state = TaskState(state)
        if state not in REPORTABLE_STATES:
            raise ValueError(
                f"an agent cannot report {state.value}; it may report "
                f"{', '.join(sorted(s.value for s in REPORTABLE_STATES))}"
            )
        if identity is None or identity.ti_id != ti_id:
            identity = await load_identity(self._db, ti_id)
        if identity is None:
            return TransitionResult(False, state, refusal=TransitionRefusal.NOT_FOUND)
        fields: dict[str, Any] = {}
        if state is TaskState.RUNNING:
            fields = {"hostname": hostname, "pid": pid}
        target = state
        compiled = await self._catalog.get(identity.dag_version_id)
        if state is TaskState.FAILED:
            outcome = failure_outcome(
                compiled.retry_policy(identity.task_id),
                try_number,
                self._clock(),
                identity.max_tries,
            )
            target = outcome.state
            if outcome.next_retry_at is not None:
                fields["next_retry_at"] = outcome.next_retry_at
        result = await transition_task_instance(
            self._db, ti_id, target, try_number=try_number, **fields
        )
        if result.applied:
            task = compiled.tasks.get(identity.task_id)
            ref = TryRef(
                ti_id,
                try_number,
                identity.dag_id,
                identity.run_id,
                identity.task_id,
                identity.tenant,
                task.type.value if task is not None else "unknown",
            )
            observe_transition(ref, identity.state, result)
            if target is not TaskState.RUNNING:
                self.last_terminal_report[identity.run_uuid] = time.perf_counter()
                if self._wake_task is not None:
                    self._wake_task(identity.run_uuid, identity.task_id)
                else:
                    self._wake_run(identity.run_uuid)
        return result
