"""Retries: n retries give n + 1 tries; delays, exponential backoff and its cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leoflow.scheduler.retries import RetryPolicy, failure_outcome, retry_delay
from leoflow.states import TaskState

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_tries_left_means_up_for_retry_after_the_delay() -> None:
    policy = RetryPolicy(retries=2, retry_delay_seconds=30)
    first = failure_outcome(policy, try_number=1, now=NOW)
    assert first.state is TaskState.UP_FOR_RETRY
    assert first.next_retry_at == NOW + timedelta(seconds=30)
    assert failure_outcome(policy, 2, NOW).state is TaskState.UP_FOR_RETRY
    last = failure_outcome(policy, 3, NOW)
    assert last.state is TaskState.FAILED and last.next_retry_at is None


def test_no_retries_fails_at_once() -> None:
    assert failure_outcome(RetryPolicy(retries=0), 1, NOW).state is TaskState.FAILED


def test_exponential_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(
        retries=10, retry_delay_seconds=10, exponential_backoff=True, max_retry_delay_seconds=60
    )
    assert [retry_delay(policy, n).total_seconds() for n in (1, 2, 3, 4, 5)] == [
        10,
        20,
        40,
        60,
        60,
    ]


@given(st.integers(0, 20), st.integers(1, 25), st.floats(0, 1e6), st.booleans())
def test_delay_never_exceeds_the_cap(
    retries: int, try_number: int, delay: float, exp: bool
) -> None:
    policy = RetryPolicy(retries=retries, retry_delay_seconds=delay, exponential_backoff=exp)
    outcome = failure_outcome(policy, try_number, NOW)
    if outcome.next_retry_at is not None:
        assert (
            NOW <= outcome.next_retry_at <= NOW + timedelta(seconds=policy.max_retry_delay_seconds)
        )
    assert (outcome.state is TaskState.UP_FOR_RETRY) == (try_number <= retries)


def test_a_cleared_task_instance_counts_its_renewed_tries() -> None:
    policy = RetryPolicy(retries=1, retry_delay_seconds=0)
    assert failure_outcome(policy, 2, NOW).state is TaskState.FAILED
    # cleared after try 2: max_tries 2 + 1 = 3, so tries 3 and 4 are allowed
    assert failure_outcome(policy, 3, NOW, max_tries=3).state is TaskState.UP_FOR_RETRY
    assert failure_outcome(policy, 4, NOW, max_tries=3).state is TaskState.FAILED
    # the policy is the floor: a row written without its retries still gets them
    assert failure_outcome(policy, 1, NOW, max_tries=0).state is TaskState.UP_FOR_RETRY
