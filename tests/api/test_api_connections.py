"""``/api/v2/connections`` against a real database: Airflow shapes, secrets sealed at rest,
passwords never answered or logged, masked extras, and the 503 without a key."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from harness.api import AuthHeaders, api_settings, bearer, create_test_user, security_of
from leoflow.api.app import create_app
from leoflow.secrets.connections import open_connection
from leoflow.store import connections, tenants
from leoflow.store.pool import Pool

PASSWORD = "pw-Zx9!never-shown"
EXTRA_SECRET = "tok-Qq7-never-shown"


@pytest.fixture
async def op(auth_headers: AuthHeaders) -> dict[str, str]:
    return await auth_headers("Op")


def _body(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "connection_id": "warehouse",
        "conn_type": "postgres",
        "host": "db.internal",
        "login": "etl",
        "schema": "analytics",
        "port": 5432,
        "password": PASSWORD,
        "extra": json.dumps({"sslmode": "require", "token": EXTRA_SECRET}),
    }
    body.update(fields)
    return body


async def test_crud_and_write_only_password(
    api_client: httpx.AsyncClient, op: dict[str, str], database_url: str
) -> None:
    created = await api_client.post("/api/v2/connections", json=_body(), headers=op)
    assert created.status_code == 201
    assert created.json() == {
        "connection_id": "warehouse",
        "conn_type": "postgres",
        "description": None,
        "host": "db.internal",
        "login": "etl",
        "schema": "analytics",
        "port": 5432,
        "password": "***",
        "extra": json.dumps({"sslmode": "require", "token": "***"}),
        "team_name": None,
    }
    got = await api_client.get("/api/v2/connections/warehouse", headers=op)
    assert got.json() == created.json()

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT password_encrypted, extra_encrypted FROM connections").fetchone()
    assert row is not None
    for column in row:
        assert PASSWORD.encode() not in column and EXTRA_SECRET.encode() not in column
        assert b"sslmode" not in column

    patched = await api_client.patch(
        "/api/v2/connections/warehouse", json=_body(host="db2.internal"), headers=op
    )
    assert patched.status_code == 200 and patched.json()["host"] == "db2.internal"

    deleted = await api_client.delete("/api/v2/connections/warehouse", headers=op)
    assert deleted.status_code == 204
    missing = await api_client.get("/api/v2/connections/warehouse", headers=op)
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "The Connection with connection_id: `warehouse` was not found"},
    )


async def test_password_never_in_a_response_or_a_log_line(
    api_app: FastAPI,
    api_client: httpx.AsyncClient,
    op: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    requests = [
        ("POST", "/api/v2/connections", _body()),
        ("GET", "/api/v2/connections/warehouse", None),
        ("GET", "/api/v2/connections", None),
        ("PATCH", "/api/v2/connections/warehouse", _body(password="***")),
        (
            "PATCH",
            "/api/v2/connections",
            {"actions": [{"action": "update", "entities": [_body(description="d")]}]},
        ),
        ("POST", "/api/v2/connections", _body()),  # conflict
        ("POST", "/api/v2/connections/test", _body()),
        ("GET", "/api/v2/eventLogs", None),
    ]
    for method, url, body in requests:
        response = await api_client.request(method, url, json=body, headers=op)
        texts.append(response.text)
        texts.append(str(response.headers))
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert PASSWORD not in text
        assert EXTRA_SECRET not in text
    # the stored secret is intact (the masked PATCH kept it) and opens with the key
    security = security_of(api_app)
    tenant_id = await tenants.get_default_tenant_id(security.auth.db)
    row = await connections.get_connection(security.auth.db, tenant_id, "warehouse")
    assert row is not None and security.cipher is not None
    opened = open_connection(security.cipher, row)
    assert opened.password == PASSWORD
    assert json.loads(opened.extra or "{}")["token"] == EXTRA_SECRET


async def test_masked_extra_keys_are_restored_on_update(
    api_app: FastAPI, api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    await api_client.post("/api/v2/connections", json=_body(), headers=op)
    shown = (await api_client.get("/api/v2/connections/warehouse", headers=op)).json()
    edited = json.loads(shown["extra"])
    edited["sslmode"] = "disable"
    response = await api_client.patch(
        "/api/v2/connections/warehouse",
        json=_body(extra=json.dumps(edited), password=shown["password"]),
        headers=op,
    )
    assert json.loads(response.json()["extra"]) == {"sslmode": "disable", "token": "***"}
    security = security_of(api_app)
    tenant_id = await tenants.get_default_tenant_id(security.auth.db)
    row = await connections.get_connection(security.auth.db, tenant_id, "warehouse")
    assert row is not None and security.cipher is not None
    opened = open_connection(security.cipher, row)
    assert json.loads(opened.extra or "") == {"sslmode": "disable", "token": EXTRA_SECRET}
    assert opened.password == PASSWORD

    cleared = await api_client.patch(
        "/api/v2/connections/warehouse",
        params={"update_mask": ["password"]},
        json={"connection_id": "warehouse", "conn_type": "postgres", "password": None},
        headers=op,
    )
    assert cleared.json()["password"] is None
    assert cleared.json()["host"] == "db.internal", "fields outside the mask are kept"


async def test_validation_and_conflicts(api_client: httpx.AsyncClient, op: dict[str, str]) -> None:
    await api_client.post("/api/v2/connections", json=_body(), headers=op)
    conflict = await api_client.post("/api/v2/connections", json=_body(), headers=op)
    assert conflict.status_code == 409
    bad_id = await api_client.post(
        "/api/v2/connections", json=_body(connection_id="bad id!"), headers=op
    )
    assert bad_id.status_code == 422
    bad_extra = await api_client.post(
        "/api/v2/connections", json=_body(connection_id="x", extra="[1, 2]"), headers=op
    )
    assert bad_extra.status_code == 422
    mismatch = await api_client.patch(
        "/api/v2/connections/warehouse", json=_body(connection_id="other"), headers=op
    )
    assert (mismatch.status_code, mismatch.json()) == (
        400,
        {"detail": "The connection_id in the request body does not match the URL parameter"},
    )
    empty_extra = await api_client.post(
        "/api/v2/connections", json=_body(connection_id="e", extra=""), headers=op
    )
    assert empty_extra.json()["extra"] == "{}"


async def test_list_ordering_and_patterns(
    api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    for conn_id, conn_type in (
        ("s3_logs", "aws"),
        ("pg_main", "postgres"),
        ("pg_replica", "postgres"),
    ):
        body = _body(connection_id=conn_id, conn_type=conn_type, password=None, extra=None)
        await api_client.post("/api/v2/connections", json=body, headers=op)
    listing = await api_client.get(
        "/api/v2/connections", params={"order_by": ["conn_type", "-connection_id"]}, headers=op
    )
    assert [c["connection_id"] for c in listing.json()["connections"]] == [
        "s3_logs",
        "pg_replica",
        "pg_main",
    ]
    assert listing.json()["connections"][0]["password"] is None
    prefix = await api_client.get(
        "/api/v2/connections", params={"connection_id_prefix_pattern": "pg_"}, headers=op
    )
    assert prefix.json()["total_entries"] == 2
    pattern = await api_client.get(
        "/api/v2/connections", params={"connection_id_pattern": "LOG"}, headers=op
    )
    assert [c["connection_id"] for c in pattern.json()["connections"]] == ["s3_logs"]


async def test_bulk(api_client: httpx.AsyncClient, op: dict[str, str]) -> None:
    response = await api_client.patch(
        "/api/v2/connections",
        json={
            "actions": [
                {
                    "action": "create",
                    "entities": [_body(connection_id="a"), _body(connection_id="b")],
                },
                {
                    "action": "update",
                    "entities": [_body(connection_id="a", host="h2")],
                    "update_mask": ["host"],
                },
                {"action": "delete", "entities": ["b"]},
                {"action": "delete", "entities": ["ghost"]},
            ]
        },
        headers=op,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["create"] == {"success": ["a", "b"], "errors": []}
    assert body["update"] == {"success": ["a"], "errors": []}
    assert body["delete"]["success"] == ["b"]
    assert body["delete"]["errors"] == [
        {
            "error": "The connections with these connection_ids: {'ghost'} were not found.",
            "status_code": 404,
        }
    ]
    got = await api_client.get("/api/v2/connections/a", headers=op)
    assert got.json()["host"] == "h2" and got.json()["password"] == "***"


@pytest.fixture
async def keyless(db_pool: Pool) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(db_pool, api_settings(secret_key=None))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


async def test_writes_without_a_key_are_503_naming_the_setting(
    keyless: tuple[FastAPI, httpx.AsyncClient], db_pool: Pool
) -> None:
    app, client = keyless
    user = await create_test_user(db_pool, "Op")
    headers = bearer(security_of(app).auth.tokens.mint(user.username, "default").token)
    created = await client.post("/api/v2/connections", json=_body(), headers=headers)
    assert created.status_code == 503
    assert "LEOFLOW_SECRET_KEY" in created.json()["detail"]
    patched = await client.patch("/api/v2/connections/warehouse", json=_body(), headers=headers)
    assert patched.status_code == 503
    bulk = await client.patch(
        "/api/v2/connections",
        json={"actions": [{"action": "create", "entities": [_body()]}]},
        headers=headers,
    )
    assert bulk.status_code == 503
    async with db_pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM connections")
        assert await cur.fetchone() == (0,)
    listing = await client.get("/api/v2/connections", headers=headers)
    assert listing.json() == {"connections": [], "total_entries": 0}


async def test_a_wrong_key_cannot_read_stored_secrets(
    api_client: httpx.AsyncClient, op: dict[str, str], db_pool: Pool
) -> None:
    await api_client.post("/api/v2/connections", json=_body(), headers=op)
    other = create_app(db_pool, api_settings())  # a different random key
    user = await create_test_user(db_pool, "Op")
    headers = bearer(security_of(other).auth.tokens.mint(user.username, "default").token)
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/v2/connections/warehouse", headers=headers)
    assert response.status_code == 503
    assert "cannot be decrypted" in response.json()["detail"]
    assert PASSWORD not in response.text


async def test_connection_test_is_disabled_by_default(
    api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    response = await api_client.post("/api/v2/connections/test", json=_body(), headers=op)
    assert response.status_code == 403
    assert "Testing connections is disabled" in response.json()["detail"]


async def test_connection_test_checks_reachability_when_enabled(db_pool: Pool) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = create_app(db_pool, api_settings(test_connection="enabled"))
    user = await create_test_user(db_pool, "Op")
    headers = bearer(security_of(app).auth.tokens.mint(user.username, "default").token)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok = await client.post(
                "/api/v2/connections/test",
                json=_body(host="127.0.0.1", port=port),
                headers=headers,
            )
            assert ok.status_code == 200
            assert ok.json()["status"] is True
            server.close()
            await server.wait_closed()
            down = await client.post(
                "/api/v2/connections/test",
                json=_body(host="127.0.0.1", port=port),
                headers=headers,
            )
            assert down.json()["status"] is False
            assert "Cannot reach" in down.json()["message"]
    finally:
        server.close()


async def test_a_port_outside_0_65535_is_422_and_changes_nothing(
    api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    assert (await api_client.post("/api/v2/connections", json=_body(), headers=op)).is_success
    for port in (-1, 65536, 2**40):
        created = await api_client.post(
            "/api/v2/connections", json=_body(connection_id="other", port=port), headers=op
        )
        assert created.status_code == 422, created.text
        assert [error["loc"] for error in created.json()["detail"]] == [["body", "port"]]
        patched = await api_client.patch(
            "/api/v2/connections/warehouse", json=_body(port=port), headers=op
        )
        assert patched.status_code == 422, patched.text
    stored = await api_client.get("/api/v2/connections/warehouse", headers=op)
    assert stored.json()["port"] == 5432
    missing = await api_client.get("/api/v2/connections/other", headers=op)
    assert missing.status_code == 404
