"""Task and run states and their legal transitions: the one state machine of Leoflow.

The store guards every state write with ``WHERE state IN (legal sources)`` (plus the try
number for task instances) using the tables below, and the scheduler plans with the same
tables, so the two can never disagree about what a legal move is.

Two kinds of transition exist:

* *system* transitions, made by the scheduler, the executors and the agent as a task runs;
* *operator* transitions, made by a person through the API or UI: marking a task instance
  success/failed and clearing it (back to ``none`` so that it runs again).

Terminal task states can only be left through an operator transition; this is what stops a late
or duplicate report from moving a finished task backwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class TaskState(StrEnum):
    """State of one try of a task instance (Airflow's names and meanings)."""

    NONE = "none"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    DEFERRED = "deferred"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"
    UP_FOR_RETRY = "up_for_retry"
    REMOVED = "removed"


class RunState(StrEnum):
    """State of a DAG run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


TASK_TERMINAL_STATES: frozenset[TaskState] = frozenset(
    {
        TaskState.SUCCESS,
        TaskState.FAILED,
        TaskState.SKIPPED,
        TaskState.UPSTREAM_FAILED,
        TaskState.REMOVED,
    }
)
"""States a try never leaves on its own; only an operator (clear / mark) moves them."""

TASK_ACTIVE_STATES: frozenset[TaskState] = frozenset(
    {TaskState.QUEUED, TaskState.RUNNING, TaskState.DEFERRED}
)
"""States in which a try holds (or is about to hold) an executor slot."""

TASK_FINISHED_FOR_DEPENDENTS: frozenset[TaskState] = TASK_TERMINAL_STATES - {TaskState.REMOVED}
"""States that settle a task for the purpose of its downstream trigger rules."""

RUN_TERMINAL_STATES: frozenset[RunState] = frozenset({RunState.SUCCESS, RunState.FAILED})

_T = TaskState

TASK_SYSTEM_TRANSITIONS: Mapping[TaskState, frozenset[TaskState]] = {
    # Planning: a task becomes ready, is skipped or upstream-failed by its trigger rule, or is
    # an `empty` task completed by the scheduler without dispatch. `removed` when the task
    # disappeared from the run's DAG version.
    _T.NONE: frozenset({_T.SCHEDULED, _T.SKIPPED, _T.UPSTREAM_FAILED, _T.SUCCESS, _T.REMOVED}),
    # Dispatch hands the try to an executor; an executor that refuses the try fails it.
    _T.SCHEDULED: frozenset({_T.QUEUED, _T.FAILED, _T.UP_FOR_RETRY, _T.REMOVED}),
    # The agent reports running; a lost dispatch is re-scheduled or failed by its reaper;
    # an executor that cannot start the try (image pull error, …) fails it.
    _T.QUEUED: frozenset({_T.RUNNING, _T.SCHEDULED, _T.FAILED, _T.UP_FOR_RETRY}),
    # The agent reports the outcome; a task may defer itself; the heartbeat reaper fails it.
    _T.RUNNING: frozenset({_T.SUCCESS, _T.FAILED, _T.UP_FOR_RETRY, _T.SKIPPED, _T.DEFERRED}),
    # A trigger fires (resume on a worker) or times out.
    _T.DEFERRED: frozenset({_T.SCHEDULED, _T.FAILED, _T.UP_FOR_RETRY}),
    # The retry delay elapsed: the next try is scheduled (its try number is incremented).
    _T.UP_FOR_RETRY: frozenset({_T.SCHEDULED, _T.FAILED}),
    _T.SUCCESS: frozenset(),
    _T.FAILED: frozenset(),
    _T.SKIPPED: frozenset(),
    _T.UPSTREAM_FAILED: frozenset(),
    _T.REMOVED: frozenset(),
}
"""Moves made by the scheduler, executors and agents while a task runs."""

TASK_OPERATOR_TARGETS: frozenset[TaskState] = frozenset(
    {TaskState.NONE, TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED}
)
"""States an operator may set (clear = ``none``; mark success/failed/skipped)."""


def legal_task_sources(target: TaskState, *, by_operator: bool = False) -> frozenset[TaskState]:
    """States from which a task instance may move to ``target``.

    ``by_operator`` adds the moves a person may make (mark or clear), which may start from any
    other state, including terminal ones.
    """
    sources = {src for src, targets in TASK_SYSTEM_TRANSITIONS.items() if target in targets}
    if by_operator and target in TASK_OPERATOR_TARGETS:
        sources |= set(TaskState) - {target}
    return frozenset(sources)


def can_transition_task(source: TaskState, target: TaskState, *, by_operator: bool = False) -> bool:
    """Whether ``source -> target`` is a legal task-instance move."""
    return source in legal_task_sources(target, by_operator=by_operator)


_R = RunState

RUN_SYSTEM_TRANSITIONS: Mapping[RunState, frozenset[RunState]] = {
    _R.QUEUED: frozenset({_R.RUNNING}),
    _R.RUNNING: frozenset({_R.SUCCESS, _R.FAILED}),
    _R.SUCCESS: frozenset(),
    _R.FAILED: frozenset(),
}
"""Moves the scheduler makes: start a queued run (``max_active_runs`` allowing), finalize it."""

RUN_OPERATOR_TRANSITIONS: Mapping[RunState, frozenset[RunState]] = {
    _R.QUEUED: frozenset({_R.SUCCESS, _R.FAILED}),
    _R.RUNNING: frozenset({_R.SUCCESS, _R.FAILED, _R.QUEUED}),
    # Clearing task instances of a finished run re-queues it (Airflow behaviour).
    _R.SUCCESS: frozenset({_R.FAILED, _R.QUEUED}),
    _R.FAILED: frozenset({_R.SUCCESS, _R.QUEUED}),
}
"""Moves a person makes: mark a run success/failed, or clear it so that it runs again."""


def legal_run_sources(target: RunState, *, by_operator: bool = False) -> frozenset[RunState]:
    """States from which a DAG run may move to ``target``."""
    tables = [RUN_SYSTEM_TRANSITIONS]
    if by_operator:
        tables.append(RUN_OPERATOR_TRANSITIONS)
    return frozenset(src for table in tables for src, dst in table.items() if target in dst)


def can_transition_run(source: RunState, target: RunState, *, by_operator: bool = False) -> bool:
    """Whether ``source -> target`` is a legal DAG-run move."""
    return source in legal_run_sources(target, by_operator=by_operator)


class TransitionRefusal(StrEnum):
    """Why a guarded state write did not apply."""

    NOT_FOUND = "not_found"
    STALE_TRY = "stale_try"
    ILLEGAL_TRANSITION = "illegal_transition"


def check_task_transition(
    current: TaskState,
    current_try: int,
    target: TaskState,
    reported_try: int,
    *,
    by_operator: bool = False,
) -> TransitionRefusal | None:
    """The compare-and-set rule in pure form: ``None`` when the write applies, else why not.

    The store's SQL guard (``WHERE state = ANY(legal sources) AND try_number = $try``) is the
    same rule; this function lets the scheduler and tests reason about it without a database.
    """
    if reported_try != current_try:
        return TransitionRefusal.STALE_TRY
    if not can_transition_task(current, target, by_operator=by_operator):
        return TransitionRefusal.ILLEGAL_TRANSITION
    return None
