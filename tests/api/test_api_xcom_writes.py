"""XCom writes through the API (``POST``/``PATCH``/``DELETE …/xcomEntries``): the same policy
and backend as a task's push, the User role, the audit log.

Answers are validated against Airflow 3.3.2's schemas by the ``client`` fixture.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from harness.airflow_api import admin, bash_spec, client, push, trigger
from harness.api import AuthHeaders
from leoflow.store.pool import Pool
from leoflow.xcom import RunScope, XComAddress, XComPolicy, XComService
from leoflow.xcom.redis import RedisXComBackend

__all__ = ["admin", "client"]

ENTRIES = "/api/v2/dags/etl/dagRuns/r1/taskInstances/extract/xcomEntries"


@pytest.fixture
async def etl(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """The DAG ``etl`` (XComs kept 2 minutes) and its run ``r1``."""
    spec = bash_spec("etl", xcom_ttl_seconds=120)
    spec["tasks"][0]["xcom_schema"] = {"type": "object"}
    assert (await push(client, admin, spec)).status_code == 201, spec
    await trigger(client, admin, "etl", run_id="r1")


@pytest.mark.usefixtures("etl")
async def test_create_read_update_delete(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    created = await client.post(
        ENTRIES, json={"key": "rows", "value": {"n": 42, "ok": True}}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["key"], body["value"], body["map_index"]) == ("rows", {"n": 42, "ok": True}, -1)
    assert (body["dag_id"], body["run_id"], body["task_id"]) == ("etl", "r1", "extract")
    read = await client.get(f"{ENTRIES}/rows", headers=admin)
    assert read.json()["value"] == {"n": 42, "ok": True}
    async with db_pool.connection() as conn:
        cur = await conn.execute("SELECT expires_at - created_at FROM xcom WHERE key = 'rows'")
        row = await cur.fetchone()
    assert row is not None and row[0] == timedelta(seconds=120)  # the DAG's xcom_ttl_seconds

    duplicate = await client.post(ENTRIES, json={"key": "rows", "value": 1}, headers=admin)
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["detail"]

    updated = await client.patch(f"{ENTRIES}/rows", json={"value": [1, 2]}, headers=admin)
    assert updated.status_code == 200, updated.text
    assert updated.json()["value"] == [1, 2]
    assert (await client.get(f"{ENTRIES}/rows", headers=admin)).json()["value"] == [1, 2]

    assert (await client.delete(f"{ENTRIES}/rows", headers=admin)).status_code == 204
    assert (await client.get(f"{ENTRIES}/rows", headers=admin)).status_code == 404
    assert (await client.delete(f"{ENTRIES}/rows", headers=admin)).status_code == 404
    missing = await client.patch(f"{ENTRIES}/rows", json={"value": 1}, headers=admin)
    assert missing.status_code == 404 and "doesn't exist" in missing.json()["detail"]


@pytest.mark.usefixtures("etl")
async def test_the_policy_refuses_what_a_task_could_not_push(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    big = await client.post(ENTRIES, json={"key": "big", "value": "x" * 300_000}, headers=admin)
    assert big.status_code == 400
    assert "too_large" in big.json()["detail"]
    assert "over the 256 KiB limit" in big.json()["detail"]
    schema = await client.post(
        ENTRIES, json={"key": "return_value", "value": "not an object"}, headers=admin
    )
    assert schema.status_code == 400
    assert "xcom_schema" in schema.json()["detail"]
    assert "not an object" not in schema.json()["detail"]  # the value is never quoted
    async with db_pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM xcom")
        row = await cur.fetchone()
    assert row == (0,)


@pytest.mark.usefixtures("etl")
async def test_unknown_run_or_task_is_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = {"key": "k", "value": 1}
    no_task = await client.post(
        "/api/v2/dags/etl/dagRuns/r1/taskInstances/nope/xcomEntries", json=body, headers=admin
    )
    assert no_task.status_code == 404
    assert no_task.json()["detail"] == "Task with ID: `nope` not found in dag: `etl`"
    no_run = await client.post(
        "/api/v2/dags/etl/dagRuns/zz/taskInstances/extract/xcomEntries", json=body, headers=admin
    )
    assert no_run.status_code == 404


@pytest.mark.usefixtures("etl")
async def test_writes_need_the_user_role_and_are_audited(
    client: httpx.AsyncClient, admin: dict[str, str], auth_headers: AuthHeaders
) -> None:
    viewer = await auth_headers("Viewer")
    body = {"key": "k", "value": 1}
    assert (await client.post(ENTRIES, json=body, headers=viewer)).status_code == 403
    assert (await client.get(ENTRIES, headers=viewer)).status_code == 200
    user = await auth_headers("User")
    assert (await client.post(ENTRIES, json=body, headers=user)).status_code == 201
    assert (await client.patch(f"{ENTRIES}/k", json={"value": 2}, headers=user)).status_code == 200
    assert (await client.delete(f"{ENTRIES}/k", headers=viewer)).status_code == 403
    assert (await client.delete(f"{ENTRIES}/k", headers=user)).status_code == 204
    logs = await client.get("/api/v2/eventLogs", params={"limit": 100}, headers=admin)
    events = [e["event"] for e in logs.json()["event_logs"]]
    for event in ("create_xcom_entry", "update_xcom_entry", "delete_xcom_entry"):
        assert event in events


@pytest.mark.redis
@pytest.mark.usefixtures("etl")
async def test_writes_reach_the_backend_the_tasks_read(
    client: httpx.AsyncClient, admin: dict[str, str], api_app: FastAPI, redis_url: str
) -> None:
    service = XComService(RedisXComBackend(Redis.from_url(redis_url)), XComPolicy())
    api_app.state.xcom_service = service
    run = (await client.get("/api/v2/dags/etl/dagRuns/r1", headers=admin)).json()
    try:
        created = await client.post(ENTRIES, json={"key": "k", "value": {"a": 1}}, headers=admin)
        assert created.status_code == 201, created.text
        async with api_app.state.pool.connection() as conn:
            cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = 'r1'")
            row = await cur.fetchone()
        assert row is not None
        scope = RunScope("default", "etl", row[0])
        stored = await service.pull(XComAddress(scope, "extract", "k"))
        assert stored is not None and json.loads(stored.value) == {"a": 1}
        assert run["dag_id"] == "etl"
        assert (await client.delete(f"{ENTRIES}/k", headers=admin)).status_code == 204
        assert await service.pull(XComAddress(scope, "extract", "k")) is None
    finally:
        await service.backend.delete_run(RunScope("default", "etl", row[0]))
        await service.close()


@pytest.mark.redis
@pytest.mark.usefixtures("etl")
async def test_reads_come_from_the_backend_the_tasks_write(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    api_app: FastAPI,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In Pro XComs live in Redis: the API lists and shows them from there (nothing is in the
    ``xcom`` table), with the same filters, order and paging as from PostgreSQL."""
    from leoflow.api.routes import xcom as xcom_routes

    service = XComService(RedisXComBackend(Redis.from_url(redis_url)), XComPolicy())
    api_app.state.xcom_service = service
    async with api_app.state.pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = 'r1'")
        row = await cur.fetchone()
    assert row is not None
    scope = RunScope("default", "etl", row[0])
    try:
        await service.push_json(XComAddress(scope, "extract", "return_value"), {"rows": 3})
        await service.push_json(XComAddress(scope, "extract", "count"), 3)
        async with api_app.state.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM xcom")
            assert (await cur.fetchone()) == (0,)

        listed = await client.get(ENTRIES, headers=admin)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert body["total_entries"] == 2
        assert [e["key"] for e in body["xcom_entries"]] == ["count", "return_value"]
        one = await client.get(f"{ENTRIES}/return_value", headers=admin)
        assert one.status_code == 200 and one.json()["value"] == {"rows": 3}
        everywhere = "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries"
        paged = await client.get(everywhere, params={"limit": 1, "offset": 1}, headers=admin)
        assert paged.json()["total_entries"] == 2
        assert [e["key"] for e in paged.json()["xcom_entries"]] == ["return_value"]
        assert (await client.get(f"{ENTRIES}/absent", headers=admin)).status_code == 404

        monkeypatch.setattr(xcom_routes, "MAX_BACKEND_RUNS", 0)
        too_wide = await client.get(everywhere, headers=admin)
        assert too_wide.status_code == 400
        assert "name the DAG and the run" in too_wide.json()["detail"]
    finally:
        await service.backend.delete_run(scope)
        await service.close()
