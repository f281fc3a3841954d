"""Suite-wide fixtures: a real PostgreSQL (per-test databases) and a real Redis.

The logic lives in ``tests/harness``; this file only exposes it to pytest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from harness.api import api_app, api_client, auth_headers  # noqa: E402
from harness.fixtures import (  # noqa: E402
    database_url,
    db_pool,
    empty_database_url,
    pg_databases,
    pg_server,
    redis_url,
)
from harness.postgres import describe_choice  # noqa: E402

__all__ = [
    "api_app",
    "api_client",
    "auth_headers",
    "database_url",
    "db_pool",
    "empty_database_url",
    "pg_databases",
    "pg_server",
    "redis_url",
]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say in the header which PostgreSQL the session uses."""
    return [describe_choice()]
