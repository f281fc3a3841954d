"""Property tests for the task and run state machine shared by the store and the scheduler."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from leoflow.states import (
    RUN_TERMINAL_STATES,
    TASK_SYSTEM_TRANSITIONS,
    TASK_TERMINAL_STATES,
    RunState,
    TaskState,
    TransitionRefusal,
    can_transition_run,
    can_transition_task,
    check_task_transition,
    legal_run_sources,
    legal_task_sources,
)

task_states = st.sampled_from(list(TaskState))
run_states = st.sampled_from(list(RunState))


def test_every_state_has_a_row_in_the_system_table() -> None:
    assert set(TASK_SYSTEM_TRANSITIONS) == set(TaskState)


def test_terminal_states_have_no_system_exit() -> None:
    for state in TASK_TERMINAL_STATES:
        assert TASK_SYSTEM_TRANSITIONS[state] == frozenset()


def test_the_happy_path_is_legal() -> None:
    path = [TaskState.NONE, TaskState.SCHEDULED, TaskState.QUEUED, TaskState.RUNNING]
    for source, target in itertools.pairwise(path):
        assert can_transition_task(source, target)
    assert can_transition_task(TaskState.RUNNING, TaskState.SUCCESS)


def test_a_late_report_cannot_revive_a_finished_task() -> None:
    assert not can_transition_task(TaskState.SUCCESS, TaskState.RUNNING)
    assert not can_transition_task(TaskState.FAILED, TaskState.SUCCESS)
    assert not can_transition_task(TaskState.QUEUED, TaskState.QUEUED)


def test_run_finalization_and_operator_moves() -> None:
    assert can_transition_run(RunState.QUEUED, RunState.RUNNING)
    assert can_transition_run(RunState.RUNNING, RunState.SUCCESS)
    assert not can_transition_run(RunState.SUCCESS, RunState.RUNNING)
    assert not can_transition_run(RunState.FAILED, RunState.QUEUED)
    assert can_transition_run(RunState.FAILED, RunState.QUEUED, by_operator=True)


@given(task_states, task_states)
def test_sources_and_can_transition_agree(source: TaskState, target: TaskState) -> None:
    for by_operator in (False, True):
        assert (source in legal_task_sources(target, by_operator=by_operator)) == (
            can_transition_task(source, target, by_operator=by_operator)
        )


@given(task_states, task_states)
def test_operator_moves_are_a_superset_of_system_moves(a: TaskState, b: TaskState) -> None:
    if can_transition_task(a, b):
        assert can_transition_task(a, b, by_operator=True)


@given(task_states)
def test_operator_can_clear_and_mark_from_anywhere(state: TaskState) -> None:
    for target in (TaskState.NONE, TaskState.SUCCESS, TaskState.FAILED):
        if state != target:
            assert can_transition_task(state, target, by_operator=True)


@given(task_states)
def test_no_self_transitions(state: TaskState) -> None:
    assert not can_transition_task(state, state)
    assert not can_transition_task(state, state, by_operator=True)


@given(run_states, run_states)
def test_run_sources_agree(source: RunState, target: RunState) -> None:
    assert (source in legal_run_sources(target)) == can_transition_run(source, target)
    if source in RUN_TERMINAL_STATES:
        assert not can_transition_run(source, target)


@given(task_states, st.integers(1, 5), task_states, st.integers(1, 5))
def test_stale_try_is_refused_before_legality(
    current: TaskState, current_try: int, target: TaskState, reported_try: int
) -> None:
    outcome = check_task_transition(current, current_try, target, reported_try)
    if reported_try != current_try:
        assert outcome is TransitionRefusal.STALE_TRY
    elif can_transition_task(current, target):
        assert outcome is None
    else:
        assert outcome is TransitionRefusal.ILLEGAL_TRANSITION


class TaskInstanceModel(RuleBasedStateMachine):
    """Random reports from old and new tries, plus operator moves, against one task instance.

    Invariants: a stale try never changes anything, and a terminal state is only ever left by
    an operator or by starting a new try (retry).
    """

    def __init__(self) -> None:
        super().__init__()
        self.state = TaskState.NONE
        self.try_number = 1

    @rule(new_state=task_states, try_offset=st.integers(-2, 0))
    def system_report(self, new_state: TaskState, try_offset: int) -> None:
        before = (self.state, self.try_number)
        reported = self.try_number + try_offset
        if check_task_transition(self.state, self.try_number, new_state, reported) is None:
            self.state = new_state
        if try_offset != 0:
            assert (self.state, self.try_number) == before
        if before[0] in TASK_TERMINAL_STATES:
            assert self.state == before[0]

    @rule(new_state=st.sampled_from([TaskState.NONE, TaskState.SUCCESS, TaskState.FAILED]))
    def operator_mark(self, new_state: TaskState) -> None:
        outcome = check_task_transition(
            self.state, self.try_number, new_state, self.try_number, by_operator=True
        )
        if outcome is None:
            self.state = new_state

    @rule()
    def retry(self) -> None:
        if self.state == TaskState.UP_FOR_RETRY:
            self.try_number += 1
            self.state = TaskState.SCHEDULED

    @invariant()
    def state_is_known(self) -> None:
        assert self.state in set(TaskState)


TestTaskInstanceModel = TaskInstanceModel.TestCase
