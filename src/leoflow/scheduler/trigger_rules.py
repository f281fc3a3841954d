"""Airflow's trigger rules as one pure function over upstream state counts.

The semantics follow Airflow's ``TriggerRuleDep`` with ``flag_upstream_failed`` on (what its
scheduler does): a rule is *met* (the task becomes ready), *cannot be met* (the task is set to
``skipped`` or ``upstream_failed`` at once, without waiting for the rest of its upstream), or
neither yet (wait). ``one_success`` and ``one_failed`` are eager: they fire on the first
matching upstream, not when all upstream tasks are done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from leoflow.spec import TriggerRule
from leoflow.states import TaskState

__all__ = ["Readiness", "TriggerRule", "UpstreamCounts", "evaluate"]


class Readiness(StrEnum):
    """What the scheduler should do with a task whose state is ``none``."""

    WAIT = "wait"
    READY = "ready"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(frozen=True, slots=True)
class UpstreamCounts:
    """How many direct upstream task instances are in each settled state."""

    total: int
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0
    removed: int = 0

    @property
    def done(self) -> int:
        return self.success + self.skipped + self.failed + self.upstream_failed + self.removed

    @property
    def all_done(self) -> bool:
        return self.done >= self.total

    @classmethod
    def of(cls, upstream_states: Iterable[TaskState]) -> UpstreamCounts:
        """Count a list of upstream states (unsettled ones only add to the total)."""
        states = list(upstream_states)
        return cls(
            total=len(states),
            success=states.count(TaskState.SUCCESS),
            skipped=states.count(TaskState.SKIPPED),
            failed=states.count(TaskState.FAILED),
            upstream_failed=states.count(TaskState.UPSTREAM_FAILED),
            removed=states.count(TaskState.REMOVED),
        )


def _cannot_be_met(rule: TriggerRule, c: UpstreamCounts) -> Readiness | None:
    """Airflow's ``flag_upstream_failed`` branch: settle the task early when the rule is lost."""
    any_failed = c.failed > 0 or c.upstream_failed > 0
    verdict: Readiness | None = None
    if rule is TriggerRule.ALL_SUCCESS:
        if any_failed:
            verdict = Readiness.UPSTREAM_FAILED
        elif c.skipped:
            verdict = Readiness.SKIP
    elif rule is TriggerRule.ALL_FAILED:
        if c.success or c.skipped:
            verdict = Readiness.SKIP
    elif rule is TriggerRule.ONE_SUCCESS:
        if c.all_done and c.done == c.skipped:
            verdict = Readiness.SKIP
        elif c.all_done and c.success == 0:
            verdict = Readiness.UPSTREAM_FAILED
    elif rule is TriggerRule.ONE_FAILED:
        if c.all_done and not any_failed:
            verdict = Readiness.SKIP
    elif rule is TriggerRule.NONE_FAILED:
        if any_failed:
            verdict = Readiness.UPSTREAM_FAILED
    elif rule is TriggerRule.NONE_SKIPPED and c.skipped:
        verdict = Readiness.SKIP
    return verdict


def _is_met(rule: TriggerRule, c: UpstreamCounts) -> bool:
    met: bool
    if rule is TriggerRule.ALL_SUCCESS:
        met = c.success >= c.total
    elif rule is TriggerRule.ALL_FAILED:
        met = c.failed + c.upstream_failed >= c.total
    elif rule is TriggerRule.ALL_DONE:
        met = c.all_done
    elif rule is TriggerRule.ONE_SUCCESS:
        met = c.success > 0
    elif rule is TriggerRule.ONE_FAILED:
        met = c.failed > 0 or c.upstream_failed > 0
    elif rule is TriggerRule.NONE_FAILED:
        met = c.success + c.skipped >= c.total
    elif rule is TriggerRule.NONE_SKIPPED:
        met = c.all_done and c.skipped == 0
    else:  # ALWAYS
        met = True
    return met


def evaluate(rule: TriggerRule | str, counts: UpstreamCounts) -> Readiness:
    """Decide what happens to a not-yet-scheduled task given its upstream counts.

    A task without upstream tasks is always ready (Airflow ignores its trigger rule).
    """
    rule = TriggerRule(rule)
    if counts.total == 0 or rule is TriggerRule.ALWAYS:
        return Readiness.READY
    lost = _cannot_be_met(rule, counts)
    if lost is not None:
        return lost
    return Readiness.READY if _is_met(rule, counts) else Readiness.WAIT
