"""The test harness itself: isolated migrated databases and the Redis fixture."""

from __future__ import annotations

import psycopg

from leoflow.store.schema import SchemaState, check


def test_each_test_gets_its_own_migrated_database(database_url: str, pg_databases: object) -> None:
    assert check(database_url).state is SchemaState.UP_TO_DATE
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None and str(row[0]).startswith("leoflow_test_")


def test_redis_fixture_gives_a_reachable_redis(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
    finally:
        client.close()
