"""Fixtures of the harness; ``tests/conftest.py`` re-exports them to the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from harness.postgres import DatabaseFactory, TestServer, start_server
from harness.redis import reachable_redis_url
from leoflow.store.pool import Pool, create_pool


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    """The PostgreSQL server of this session (external or embedded)."""
    server = start_server(tmp_path_factory.mktemp("embedded-pg"))
    print(f"\nleoflow tests use {server.description}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_databases(pg_server: TestServer) -> Iterator[DatabaseFactory]:
    """Creates databases on the session server; owns the migrated template."""
    factory = DatabaseFactory(pg_server.url)
    factory.create_template()
    yield factory
    factory.close()


@pytest.fixture
def database_url(pg_databases: DatabaseFactory) -> Iterator[str]:
    """A fresh, migrated database for this test (copied from the template, dropped after)."""
    name = pg_databases.create_migrated()
    yield pg_databases.url(name)
    pg_databases.drop(name)


@pytest.fixture
def empty_database_url(pg_databases: DatabaseFactory) -> Iterator[str]:
    """A fresh database with no schema at all (for migration tests), dropped after."""
    name = pg_databases.create_empty()
    yield pg_databases.url(name)
    pg_databases.drop(name)


@pytest.fixture
async def db_pool(database_url: str) -> AsyncIterator[Pool]:
    """An async pool on this test's database."""
    pool = await create_pool(database_url, min_size=1, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis URL, or a skip explaining how to provide one."""
    return reachable_redis_url()
