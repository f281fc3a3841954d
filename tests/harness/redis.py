"""A real Redis for tests, or a visible skip saying how to provide one."""

from __future__ import annotations

import os

import pytest

ENV_VAR = "LEOFLOW_TEST_REDIS_URL"
DEFAULT_URL = "redis://127.0.0.1:6379/15"
"""Database 15, to keep test keys away from a developer's own data in database 0."""


def reachable_redis_url() -> str:
    """The Redis to test against; skips when none is reachable (fails if one was configured).

    With ``LEOFLOW_TEST_REDIS_URL`` set, an unreachable Redis is a broken environment (CI),
    so the test fails rather than skipping silently.
    """
    import redis

    configured = os.environ.get(ENV_VAR)
    url = configured or DEFAULT_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        if configured:
            pytest.fail(f"Redis not reachable at {ENV_VAR}: {exc}", pytrace=False)
        pytest.skip(
            f"Redis not reachable at {url} ({exc}): set {ENV_VAR} to a Redis >= 6, "
            "e.g. redis://127.0.0.1:6379/15"
        )
    finally:
        client.close()
    return url
