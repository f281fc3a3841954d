"""bcrypt hashing at cost 12 and the sliding-window login throttle."""

from __future__ import annotations

import bcrypt
import pytest

from leoflow.auth.passwords import (
    PasswordPolicyError,
    check_password_policy,
    hash_password,
    verify_password,
)
from leoflow.auth.throttle import LoginThrottle


def test_hash_is_bcrypt_cost_12_and_verifies() -> None:
    hashed = hash_password("s3cret-enough")
    assert hashed.startswith("$2b$12$")
    assert bcrypt.checkpw(b"s3cret-enough", hashed.encode())
    assert verify_password("s3cret-enough", hashed)
    assert not verify_password("s3cret-enougH", hashed)


def test_hashes_are_salted() -> None:
    assert hash_password("same-password", rounds=4) != hash_password("same-password", rounds=4)


def test_missing_or_garbage_hash_never_verifies() -> None:
    assert not verify_password("anything", None)
    assert not verify_password("anything", "not-a-bcrypt-hash")


def test_password_policy() -> None:
    with pytest.raises(PasswordPolicyError, match="8 characters"):
        check_password_policy("short")
    with pytest.raises(PasswordPolicyError, match="72 bytes"):
        hash_password("x" * 73)
    with pytest.raises(PasswordPolicyError, match="empty"):
        hash_password("")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sixth_attempt_within_the_window_must_wait() -> None:
    clock = _Clock()
    throttle = LoginThrottle(5, 60.0, clock=clock)
    for _ in range(5):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.record_failure("10.0.0.1")
        clock.now += 1
    wait = throttle.retry_after("10.0.0.1")
    assert wait is not None and 55 <= wait <= 56
    assert throttle.retry_after("10.0.0.2") is None, "other addresses are not affected"


def test_window_slides_and_success_resets() -> None:
    clock = _Clock()
    throttle = LoginThrottle(2, 10.0, clock=clock)
    throttle.record_failure("ip")
    throttle.record_failure("ip")
    assert throttle.retry_after("ip") == 10
    clock.now += 10.5
    assert throttle.retry_after("ip") is None
    throttle.record_failure("ip")
    throttle.record_failure("ip")
    throttle.reset("ip")
    assert throttle.retry_after("ip") is None


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(1, 60.0, max_keys=3)
    for i in range(10):
        throttle.record_failure(f"ip{i}")
    assert throttle.retry_after("ip9") is not None
    assert throttle.retry_after("ip0") is None
