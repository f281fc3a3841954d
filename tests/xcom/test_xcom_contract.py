"""One contract, two backends: the same tests run on the Postgres ``xcom`` table and on a real
Redis, through the XCom service (policy in front)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from harness.execution import dag_json, running_run, task
from leoflow.store.pool import Pool
from leoflow.telemetry.metrics import XCOM_PUSHES, XCOM_REJECTIONS
from leoflow.xcom import (
    PostgresXComBackend,
    RunScope,
    XComAddress,
    XComPolicy,
    XComRejected,
    XComRejectionReason,
    XComService,
)
from leoflow.xcom.redis import RedisXComBackend, index_key, value_key

DAG = dag_json("contract", [task("a"), task("b", "a"), task("c", "b")])


@pytest.fixture(params=["postgres", pytest.param("redis", marks=pytest.mark.redis)])
async def service(
    request: pytest.FixtureRequest, db_pool: Pool
) -> AsyncIterator[tuple[XComService, RunScope]]:
    run = await running_run(db_pool, DAG)
    scope = RunScope("default", "contract", run.run.id)
    if request.param == "postgres":
        backend: PostgresXComBackend | RedisXComBackend = PostgresXComBackend(db_pool)
    else:
        url = request.getfixturevalue("redis_url")
        backend = RedisXComBackend(Redis.from_url(url))
    xcom = XComService(backend, XComPolicy(max_size_bytes=64, default_ttl_seconds=3600))
    try:
        yield xcom, scope
    finally:
        await xcom.backend.delete_run(scope)
        await xcom.close()


def _at(scope: RunScope, task_id: str, key: str = "") -> XComAddress:
    return XComAddress(scope, task_id, key)


async def test_push_then_pull_returns_the_exact_bytes(
    service: tuple[XComService, RunScope],
) -> None:
    xcom, scope = service
    raw = b'{"b": [1, 2],  "a": "\xc3\xa9"}'
    before = XCOM_PUSHES.labels(xcom.backend.name)._value.get()
    stored = await xcom.push(_at(scope, "a"), raw, declared_size=len(raw))
    assert stored.key == "return_value" and stored.size == len(raw)
    assert XCOM_PUSHES.labels(xcom.backend.name)._value.get() == before + 1
    pulled = await xcom.pull(_at(scope, "a", "return_value"))
    assert pulled is not None
    assert pulled.value == raw and pulled.content_type == "application/json"
    assert pulled.expires_at is not None and pulled.expires_at > datetime.now(UTC)
    assert await xcom.pull(_at(scope, "a", "other")) is None
    assert await xcom.pull(_at(scope, "b")) is None


async def test_a_second_push_replaces_the_first(service: tuple[XComService, RunScope]) -> None:
    xcom, scope = service
    await xcom.push_json(_at(scope, "a"), 1)
    await xcom.push_json(_at(scope, "a"), 2)
    pulled = await xcom.pull(_at(scope, "a"))
    assert pulled is not None and json.loads(pulled.value) == 2
    assert len(await xcom.list_run(scope)) == 1


async def test_rejections_store_nothing(service: tuple[XComService, RunScope]) -> None:
    xcom, scope = service
    before = XCOM_REJECTIONS.labels("too_large")._value.get()
    with pytest.raises(XComRejected) as info:
        await xcom.push_json(_at(scope, "a"), "x" * 100)
    assert info.value.reason is XComRejectionReason.TOO_LARGE
    assert XCOM_REJECTIONS.labels("too_large")._value.get() == before + 1
    with pytest.raises(XComRejected) as info:
        await xcom.push_json(_at(scope, "a"), "text", schema={"type": "integer"})
    assert info.value.reason is XComRejectionReason.SCHEMA_MISMATCH
    assert await xcom.list_run(scope) == []


async def test_list_sizes_and_deletes(service: tuple[XComService, RunScope]) -> None:
    xcom, scope = service
    await xcom.push_json(_at(scope, "a"), {"k": 1})
    await xcom.push_json(_at(scope, "a", "k"), 1)
    await xcom.push_json(_at(scope, "b"), [1, 2, 3])
    listed = await xcom.list_run(scope)
    assert [(x.task_id, x.key) for x in listed] == [
        ("a", "k"),
        ("a", "return_value"),
        ("b", "return_value"),
    ]
    sizes = await xcom.backend.sizes(
        [_at(scope, "b", "return_value"), _at(scope, "c", "return_value"), _at(scope, "a", "k")]
    )
    assert sizes == [len(b"[1,2,3]"), None, 1]
    assert await xcom.clear_task(scope, "a") == 2
    assert [(x.task_id, x.key) for x in await xcom.list_run(scope)] == [("b", "return_value")]
    assert await xcom.backend.delete_run(scope) == 1
    assert await xcom.list_run(scope) == []


async def test_delete_forgets_exactly_one_value(service: tuple[XComService, RunScope]) -> None:
    xcom, scope = service
    await xcom.push_json(_at(scope, "a"), 1)
    await xcom.push_json(_at(scope, "a", "k"), 2)
    assert await xcom.delete(_at(scope, "a")) is True  # "" is return_value
    assert await xcom.delete(_at(scope, "a")) is False
    assert [(x.task_id, x.key) for x in await xcom.list_run(scope)] == [("a", "k")]


async def test_fan_in_check_uses_stored_sizes(service: tuple[XComService, RunScope]) -> None:
    xcom, scope = service
    await xcom.push_json(_at(scope, "a"), "x" * 30)
    await xcom.push_json(_at(scope, "b"), "y" * 30)
    pulls = [_at(scope, "a", "return_value"), _at(scope, "c", "return_value")]
    assert await xcom.check_fan_in("xs", pulls) == len('["xxx",null]') + 27
    with pytest.raises(XComRejected) as info:
        await xcom.check_fan_in("xs", [*pulls, _at(scope, "b", "return_value")])
    assert info.value.reason is XComRejectionReason.TOO_LARGE


async def test_values_expire_after_their_ttl(service: tuple[XComService, RunScope]) -> None:
    xcom, scope = service
    await xcom.push_json(_at(scope, "a"), 1, dag_ttl_seconds=1)
    await xcom.push_json(_at(scope, "b"), 2)
    assert await xcom.pull(_at(scope, "a")) is not None
    await asyncio.sleep(1.2)
    assert await xcom.pull(_at(scope, "a")) is None
    assert [x.task_id for x in await xcom.list_run(scope)] == ["b"]
    assert await xcom.backend.sizes([_at(scope, "a", "return_value")]) == [None]


async def test_postgres_sweep_deletes_expired_rows(db_pool: Pool) -> None:
    run = await running_run(db_pool, DAG)
    scope = RunScope("default", "contract", run.run.id)
    xcom = XComService(PostgresXComBackend(db_pool))
    await xcom.push_json(_at(scope, "a"), 1, dag_ttl_seconds=1)
    await xcom.push_json(_at(scope, "b"), 2)
    await asyncio.sleep(1.1)
    assert await xcom.backend.sweep_expired() == 1
    async with db_pool.connection() as conn:
        cur = await conn.execute("SELECT task_id FROM xcom WHERE run_uuid = %s", (run.run.id,))
        assert [r[0] for r in await cur.fetchall()] == ["b"]
    sweeper = asyncio.create_task(xcom.sweep_forever(0.05))
    await asyncio.sleep(0.1)
    sweeper.cancel()
    await asyncio.gather(sweeper, return_exceptions=True)


@pytest.mark.redis
async def test_redis_layout_keys_and_index(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    backend = RedisXComBackend(client)
    scope = RunScope("acme", "etl", uuid.uuid4())
    xcom = XComService(backend)
    try:
        await xcom.push_json(_at(scope, "extract", "total"), 3, dag_ttl_seconds=120)
        key = value_key(_at(scope, "extract", "total"))
        assert key == f"xcom:acme:etl:{scope.run_uuid}:extract:total"
        assert 0 < await client.ttl(key) <= 120
        assert await client.scard(index_key(scope)) == 1  # type: ignore[misc]
        await client.delete(key)  # expired behind our back: the index is pruned on listing
        assert await xcom.list_run(scope) == []
        assert await client.scard(index_key(scope)) == 0  # type: ignore[misc]
    finally:
        await backend.delete_run(scope)
        await xcom.close()
