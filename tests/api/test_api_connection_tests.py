"""``POST``/``GET /connections/enqueue-test`` (a connection test run in the background and
polled by token) and ``POST /connections/defaults``, against a real listening socket.

Answers are validated against Airflow 3.3.2's schemas by the ``client`` fixture.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from harness.airflow_api import admin, client
from harness.api import AuthHeaders, api_settings
from leoflow.api.app import create_app
from leoflow.secrets.connection_tests import ABANDONED
from leoflow.secrets.default_connections import DEFAULT_CONNECTIONS
from leoflow.store import connection_tests, tenants
from leoflow.store.pool import Pool

__all__ = ["admin", "client"]

TEST = "/api/v2/connections/enqueue-test"


@pytest.fixture
async def api_app(db_pool: Pool) -> AsyncIterator[FastAPI]:
    """The API with connection testing enabled (``LEOFLOW_TEST_CONNECTION=enabled``)."""
    app = create_app(db_pool, api_settings(test_connection="enabled"))
    async with app.router.lifespan_context(app):
        yield app
        tester = getattr(app.state, "connection_tester", None)
        if tester is not None:
            await tester.wait_idle()


@pytest.fixture
async def listening_port() -> AsyncIterator[int]:
    """A port on 127.0.0.1 that accepts connections."""
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _poll(client: httpx.AsyncClient, headers: dict[str, str], token: str) -> Any:
    """The test's state once it is finished (at most 10 s)."""
    for _ in range(100):
        answer = await client.get(TEST, headers={**headers, "Airflow-Connection-Test-Token": token})
        assert answer.status_code == 200, answer.text
        if answer.json()["state"] in {"success", "failed"}:
            return answer.json()
        await asyncio.sleep(0.1)
    raise AssertionError("the connection test did not finish")


async def test_an_enqueued_test_succeeds_against_a_listening_port(
    client: httpx.AsyncClient, admin: dict[str, str], listening_port: int
) -> None:
    body = {"connection_id": "db", "conn_type": "postgres", "host": "127.0.0.1"}
    queued = await client.post(TEST, json={**body, "port": listening_port}, headers=admin)
    assert queued.status_code == 202, queued.text
    assert queued.json()["state"] == "pending" and queued.json()["connection_id"] == "db"
    result = await _poll(client, admin, queued.json()["token"])
    assert result["state"] == "success"
    assert f"127.0.0.1:{listening_port} reachable" in result["result_message"]
    # without commit_on_success nothing is saved
    assert (await client.get("/api/v2/connections/db", headers=admin)).status_code == 404


async def test_a_failed_test_says_why_and_commits_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    port = _closed_port()
    body = {
        "connection_id": "db",
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": port,
        "commit_on_success": True,
    }
    queued = await client.post(TEST, json=body, headers=admin)
    result = await _poll(client, admin, queued.json()["token"])
    assert result["state"] == "failed"
    assert result["result_message"].startswith(f"Cannot reach 127.0.0.1:{port}")
    assert (await client.get("/api/v2/connections/db", headers=admin)).status_code == 404


async def test_commit_on_success_saves_the_tested_connection(
    client: httpx.AsyncClient, admin: dict[str, str], listening_port: int
) -> None:
    body = {
        "connection_id": "db",
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": listening_port,
        "login": "me",
        "password": "s3cret",
        "commit_on_success": True,
    }
    queued = await client.post(TEST, json=body, headers=admin)
    result = await _poll(client, admin, queued.json()["token"])
    assert result["state"] == "success" and "connection saved" in result["result_message"]
    saved = (await client.get("/api/v2/connections/db", headers=admin)).json()
    assert (saved["host"], saved["port"], saved["login"]) == ("127.0.0.1", listening_port, "me")
    assert saved["password"] == "***"  # stored sealed, never answered
    assert "s3cret" not in str(result)


async def test_one_active_test_per_connection_and_refused_options(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    tenant_id = await tenants.get_default_tenant_id(db_pool)
    await connection_tests.enqueue(db_pool, tenant_id, "pending-token", "db")
    body = {"connection_id": "db", "conn_type": "http", "host": "127.0.0.1", "port": 1}
    busy = await client.post(TEST, json=body, headers=admin)
    assert busy.status_code == 409 and "already exists" in busy.json()["detail"]
    executor = await client.post(
        TEST, json={**body, "connection_id": "x", "executor": "CeleryExecutor"}, headers=admin
    )
    assert executor.status_code == 422 and "control plane" in executor.json()["detail"]
    unknown = await client.get(TEST, headers={**admin, "Airflow-Connection-Test-Token": "nope"})
    assert unknown.status_code == 404


async def test_an_abandoned_test_is_reported_failed(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool, listening_port: int
) -> None:
    tenant_id = await tenants.get_default_tenant_id(db_pool)
    async with db_pool.connection() as conn:
        await conn.execute(
            "INSERT INTO connection_tests (tenant_id, token, connection_id, state, updated_at) "
            "VALUES (%s, 'old', 'db', 'running', now() - interval '5 minutes')",
            (tenant_id,),
        )
    body = {"connection_id": "db", "conn_type": "http", "host": "127.0.0.1"}
    queued = await client.post(TEST, json={**body, "port": listening_port}, headers=admin)
    assert queued.status_code == 202, queued.text  # the abandoned one no longer blocks it
    old = await _poll(client, admin, "old")
    assert (old["state"], old["result_message"]) == ("failed", ABANDONED)


async def test_roles(
    client: httpx.AsyncClient, admin: dict[str, str], auth_headers: AuthHeaders
) -> None:
    user = await auth_headers("User")
    body = {"connection_id": "db", "conn_type": "http"}
    assert (await client.post(TEST, json=body, headers=user)).status_code == 403
    poll = {**user, "Airflow-Connection-Test-Token": "x"}
    assert (await client.get(TEST, headers=poll)).status_code == 403
    defaults = await client.post("/api/v2/connections/defaults", headers=user)
    assert defaults.status_code == 403


async def test_defaults_create_only_what_is_missing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    mine = {"connection_id": "http_default", "conn_type": "http", "host": "https://example.org"}
    assert (await client.post("/api/v2/connections", json=mine, headers=admin)).status_code == 201
    created = await client.post("/api/v2/connections/defaults", headers=admin)
    assert created.status_code == 204
    listed = await client.get("/api/v2/connections", params={"limit": 100}, headers=admin)
    by_id = {c["connection_id"]: c for c in listed.json()["connections"]}
    assert set(by_id) == {d.conn_id for d in DEFAULT_CONNECTIONS}
    assert by_id["http_default"]["host"] == "https://example.org"  # left as it was
    postgres = by_id["postgres_default"]
    assert (postgres["conn_type"], postgres["host"], postgres["schema"]) == (
        "postgres",
        "postgres",
        "airflow",
    )
    assert postgres["password"] is None
    assert by_id["redis_default"]["extra"] == '{"db": 0}'
    again = await client.post("/api/v2/connections/defaults", headers=admin)
    assert again.status_code == 204
    relisted = await client.get("/api/v2/connections", params={"limit": 100}, headers=admin)
    assert relisted.json()["total_entries"] == len(DEFAULT_CONNECTIONS)
