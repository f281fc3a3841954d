"""Fixtures of the Kubernetes executor tests: the stand-in API server and an executor on it.

The executor is real (real PostgreSQL, task logs and TaskReporter); only the Kubernetes API
server is a stand-in, because no real one can run on these machines (``kube_standin.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kube_harness import K8sHarness, k8s_settings, make_harness
from kube_standin import StandInApiServer

from leoflow.store.pool import Pool


@pytest.fixture
async def standin() -> AsyncIterator[StandInApiServer]:
    """A stand-in Kubernetes API server on 127.0.0.1 (not a real one: none can run here)."""
    async with StandInApiServer().serve() as server:
        yield server


@pytest.fixture
async def k8s(
    db_pool: Pool, database_url: str, tmp_path: Path, standin: StandInApiServer
) -> AsyncIterator[K8sHarness]:
    """The Kubernetes executor on the stand-in, with short timeouts."""
    settings = k8s_settings(database_url, tmp_path, standin.url)
    async with make_harness(db_pool, settings, standin) as harness:
        yield harness
