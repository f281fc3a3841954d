"""When a DAG run is finished, and whether it succeeded: Airflow's leaf-based rule.

A run is decided only once every task instance is settled. It fails when any *leaf* task
(one with no downstream task) ended ``failed`` or ``upstream_failed``; it succeeds when every
leaf ended ``success`` or ``skipped``. So a failure absorbed by an ``all_done`` clean-up leaf
still lets the run succeed, exactly as in Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from leoflow.states import TASK_TERMINAL_STATES, RunState, TaskState

_LEAF_FAILED = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})
_LEAF_SUCCEEDED = frozenset({TaskState.SUCCESS, TaskState.SKIPPED, TaskState.REMOVED})


class RunVerdict(StrEnum):
    """Outcome of evaluating a running DAG run."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def as_run_state(self) -> RunState:
        return RunState(self.value)


def decide_run_outcome(
    ti_states: Mapping[str, TaskState], leaves: frozenset[str] | set[str]
) -> RunVerdict:
    """Decide a run from the states of its task instances and the ids of its leaf tasks."""
    if any(state not in TASK_TERMINAL_STATES for state in ti_states.values()):
        return RunVerdict.RUNNING
    leaf_states = [ti_states[t] for t in leaves if t in ti_states]
    if any(state in _LEAF_FAILED for state in leaf_states):
        return RunVerdict.FAILED
    if all(state in _LEAF_SUCCEEDED for state in leaf_states):
        return RunVerdict.SUCCESS
    return RunVerdict.FAILED
