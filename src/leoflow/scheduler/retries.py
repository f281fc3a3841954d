"""What a failed try turns into: another try later, or a final failure.

Airflow semantics: a task with ``retries = n`` gets ``n + 1`` tries. The delay before the next
try is ``retry_delay_seconds``; with ``retry_exponential_backoff`` it doubles with every try
(``delay * 2 ** (try_number - 1)``) and is capped by ``max_retry_delay_seconds`` (a server
setting, one day unless configured), so a long retry chain never waits forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from leoflow.states import TaskState

DEFAULT_MAX_RETRY_DELAY_SECONDS = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry settings of one task, after task > DAG > platform defaults were applied."""

    retries: int = 0
    retry_delay_seconds: float = 300.0
    exponential_backoff: bool = False
    max_retry_delay_seconds: float = DEFAULT_MAX_RETRY_DELAY_SECONDS

    @property
    def max_tries(self) -> int:
        return self.retries + 1


@dataclass(frozen=True, slots=True)
class FailureOutcome:
    """The state a failed try moves to, and when the next try is due (if any)."""

    state: TaskState
    next_retry_at: datetime | None


def retry_delay(policy: RetryPolicy, try_number: int) -> timedelta:
    """Delay before the try that follows ``try_number``."""
    seconds = policy.retry_delay_seconds
    if policy.exponential_backoff:
        seconds = seconds * (2 ** max(try_number - 1, 0))
    return timedelta(seconds=min(seconds, policy.max_retry_delay_seconds))


def failure_outcome(
    policy: RetryPolicy, try_number: int, now: datetime, max_tries: int | None = None
) -> FailureOutcome:
    """``up_for_retry`` with its due time while tries remain, otherwise ``failed``.

    ``max_tries`` is the task instance's own column (Airflow's meaning: the last allowed try
    number is ``max_tries + 1``). It equals ``policy.retries`` until an operator clears the
    task, which raises it to the cleared try number plus the retries, so that a cleared task
    gets all its retries again, as in Airflow. The policy's count is the floor.
    """
    last_try = policy.max_tries if max_tries is None else max(policy.max_tries, max_tries + 1)
    if try_number < last_try:
        return FailureOutcome(TaskState.UP_FOR_RETRY, now + retry_delay(policy, try_number))
    return FailureOutcome(TaskState.FAILED, None)
