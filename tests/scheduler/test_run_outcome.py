"""Airflow's leaf-based DAG run outcome."""

from __future__ import annotations

from leoflow.scheduler.run_outcome import RunVerdict, decide_run_outcome
from leoflow.states import TaskState as T


def test_running_while_any_task_is_unsettled() -> None:
    states = {"a": T.FAILED, "b": T.RUNNING}
    assert decide_run_outcome(states, {"b"}) is RunVerdict.RUNNING
    assert decide_run_outcome({"a": T.UP_FOR_RETRY}, {"a"}) is RunVerdict.RUNNING


def test_success_when_every_leaf_succeeded_or_skipped() -> None:
    states = {"a": T.SUCCESS, "b": T.SKIPPED, "c": T.SUCCESS}
    assert decide_run_outcome(states, {"b", "c"}) is RunVerdict.SUCCESS


def test_failure_absorbed_by_an_all_done_leaf_still_succeeds() -> None:
    states = {"work": T.FAILED, "cleanup": T.SUCCESS}
    assert decide_run_outcome(states, {"cleanup"}) is RunVerdict.SUCCESS


def test_failed_or_upstream_failed_leaf_fails_the_run() -> None:
    assert decide_run_outcome({"a": T.SUCCESS, "b": T.FAILED}, {"b"}) is RunVerdict.FAILED
    states = {"a": T.FAILED, "b": T.UPSTREAM_FAILED}
    assert decide_run_outcome(states, {"b"}) is RunVerdict.FAILED
