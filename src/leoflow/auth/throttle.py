"""Failed-login throttling per client address (a sliding window kept in memory).

With the default of 5 failures per 60 s, the sixth attempt inside the window is answered 429
with ``Retry-After`` before the password is even checked, so guessing costs an attacker real
time while a person who mistyped waits at most a minute. State is per process: behind N
replicas an address gets at most N times the budget, still far from a useful guessing rate.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginThrottle:
    """Counts recent failures by key (client IP) and says when a key must wait."""

    def __init__(
        self,
        max_failures: int = 5,
        window_seconds: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def retry_after(self, key: str) -> int | None:
        """Seconds ``key`` must wait before trying again, or ``None`` if it may try now."""
        now = self._clock()
        failures = self._recent(key, now)
        if failures is None or len(failures) < self.max_failures:
            return None
        wait = failures[-self.max_failures] + self.window_seconds - now
        return max(1, math.ceil(wait))

    def record_failure(self, key: str) -> None:
        """Count one failed attempt of ``key``."""
        now = self._clock()
        failures = self._recent(key, now)
        if failures is None:
            failures = deque()
            self._failures[key] = failures
            if len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(key)
        failures.append(now)

    def reset(self, key: str) -> None:
        """Forget ``key``'s failures (after a successful login)."""
        self._failures.pop(key, None)
