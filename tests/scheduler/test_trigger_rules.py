"""Every trigger rule against Airflow's documented behaviour (TriggerRuleDep, flag_upstream_failed).

Each row: rule, upstream states, expected readiness. ``N`` stands for an upstream that has not
settled yet (none/scheduled/queued/running/up_for_retry).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leoflow.scheduler.trigger_rules import Readiness, TriggerRule, UpstreamCounts, evaluate
from leoflow.states import TaskState

S, F, K, U, N, R = (
    TaskState.SUCCESS,
    TaskState.FAILED,
    TaskState.SKIPPED,
    TaskState.UPSTREAM_FAILED,
    TaskState.RUNNING,
    TaskState.UP_FOR_RETRY,
)
READY, WAIT, SKIP, UPF = Readiness.READY, Readiness.WAIT, Readiness.SKIP, Readiness.UPSTREAM_FAILED

CASES: list[tuple[str, list[TaskState], Readiness]] = [
    # all_success: every upstream succeeded; eager upstream_failed / skip
    ("all_success", [S, S], READY),
    ("all_success", [S, N], WAIT),
    ("all_success", [S, R], WAIT),
    ("all_success", [F, N], UPF),
    ("all_success", [U, S], UPF),
    ("all_success", [K, S], SKIP),
    ("all_success", [K, F], UPF),
    # all_failed: every upstream failed or upstream_failed; any success/skip -> skipped
    ("all_failed", [F, U], READY),
    ("all_failed", [F, N], WAIT),
    ("all_failed", [F, S], SKIP),
    ("all_failed", [K, F], SKIP),
    # all_done: everything settled, whatever the outcome
    ("all_done", [S, F, K, U], READY),
    ("all_done", [F, N], WAIT),
    ("all_done", [F, R], WAIT),
    # one_success: eager on the first success
    ("one_success", [S, N], READY),
    ("one_success", [F, N], WAIT),
    ("one_success", [F, U], UPF),
    ("one_success", [K, K], SKIP),
    ("one_success", [K, F], UPF),
    # one_failed: eager on the first failure
    ("one_failed", [F, N], READY),
    ("one_failed", [U, N], READY),
    ("one_failed", [S, N], WAIT),
    ("one_failed", [S, K], SKIP),
    # none_failed: nothing failed (skips are fine)
    ("none_failed", [S, K], READY),
    ("none_failed", [K, K], READY),
    ("none_failed", [S, N], WAIT),
    ("none_failed", [F, N], UPF),
    ("none_failed", [U, S], UPF),
    # none_skipped: everything settled and nothing skipped
    ("none_skipped", [S, F], READY),
    ("none_skipped", [S, N], WAIT),
    ("none_skipped", [K, N], SKIP),
    # always: no wait at all
    ("always", [N, N], READY),
    ("always", [F, K], READY),
]


@pytest.mark.parametrize(("rule", "upstream", "expected"), CASES)
def test_rule_table(rule: str, upstream: list[TaskState], expected: Readiness) -> None:
    assert evaluate(rule, UpstreamCounts.of(upstream)) is expected


def test_every_rule_is_covered_by_the_table() -> None:
    assert {TriggerRule(rule) for rule, _, _ in CASES} == set(TriggerRule)


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_a_root_task_is_ready_whatever_its_rule(rule: TriggerRule) -> None:
    assert evaluate(rule, UpstreamCounts.of([])) is READY


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="one_done"):
        evaluate("one_done", UpstreamCounts.of([S]))


settled = st.sampled_from([S, F, K, U])
anything = st.sampled_from([S, F, K, U, N, R, TaskState.NONE, TaskState.QUEUED])


@given(st.sampled_from(list(TriggerRule)), st.lists(settled, min_size=1, max_size=8))
def test_never_waits_once_every_upstream_settled(
    rule: TriggerRule, upstream: list[TaskState]
) -> None:
    assert evaluate(rule, UpstreamCounts.of(upstream)) is not WAIT


@given(st.sampled_from(list(TriggerRule)), st.lists(anything, min_size=1, max_size=8))
def test_decisions_are_stable_as_upstreams_settle(
    rule: TriggerRule, upstream: list[TaskState]
) -> None:
    """Whether a task runs never flips as more upstream tasks settle: an early READY stays
    READY, and an early SKIP/UPSTREAM_FAILED never turns into READY."""
    first = evaluate(rule, UpstreamCounts.of(upstream))
    if first is WAIT:
        return
    for final in (S, F, K):
        later = [final if s in (N, R, TaskState.NONE, TaskState.QUEUED) else s for s in upstream]
        assert (evaluate(rule, UpstreamCounts.of(later)) is READY) == (first is READY)
