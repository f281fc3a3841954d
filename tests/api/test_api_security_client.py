"""The official ``apache-airflow-client`` 3.3.2 against a real Leoflow server over HTTP.

The client's generated models are strict pydantic models: any missing, extra or mistyped field
in our answers fails deserialization here, which makes this the conformance check of the
variable, connection and event-log shapes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from airflow_client import client as af
from airflow_client.client.exceptions import ApiException
from pydantic import SecretStr

from harness.api import TEST_PASSWORD, api_settings
from leoflow.api.app import create_app
from leoflow.store.pool import create_pool

ADMIN = "conformance-admin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server_url(database_url: str) -> Iterator[str]:
    """A uvicorn server on 127.0.0.1:<free port>, in its own thread and event loop."""
    port = _free_port()
    settings = api_settings(admin_username=ADMIN, admin_password=SecretStr(TEST_PASSWORD))
    holder: dict[str, uvicorn.Server] = {}
    failure: list[BaseException] = []

    async def serve() -> None:
        pool = await create_pool(database_url, min_size=1, max_size=4)
        try:
            config = uvicorn.Config(
                create_app(pool, settings),
                host="127.0.0.1",
                port=port,
                log_config=None,
                access_log=False,
            )
            server = uvicorn.Server(config)
            holder["server"] = server
            await server.serve()
        finally:
            await pool.close()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the fixture below
            failure.append(exc)

    thread = threading.Thread(target=run, name="uvicorn-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (holder.get("server") and holder["server"].started):
        assert not failure, failure
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        holder["server"].should_exit = True
        thread.join(timeout=30)


def _client(server_url: str) -> af.ApiClient:
    """Logged in the way the client's README shows: a plain POST to /auth/token."""
    login = httpx.post(
        f"{server_url}/auth/token", json={"username": ADMIN, "password": TEST_PASSWORD}
    )
    assert login.status_code == 201
    config = af.Configuration(host=server_url, access_token=login.json()["access_token"])
    return af.ApiClient(config)


def test_variable_crud_through_the_official_client(server_url: str) -> None:
    with _client(server_url) as api_client:
        api = af.VariableApi(api_client)
        created = api.post_variable(
            af.VariableBody(key="region", value="eu-west-1", description="where")
        )
        assert isinstance(created, af.VariableResponse)
        assert (created.key, created.value, created.is_encrypted) == ("region", "eu-west-1", True)
        api.post_variable(af.VariableBody(key="api_key", value="k-123"))

        listing = api.get_variables(limit=10, order_by=["key"])
        assert isinstance(listing, af.VariableCollectionResponse)
        assert [(v.key, v.value) for v in listing.variables] == [
            ("api_key", "***"),
            ("region", "eu-west-1"),
        ]
        assert listing.total_entries == 2

        patched = api.patch_variable(
            "region",
            af.VariableBody(key="region", value="us-east-1"),
            update_mask=["value"],
        )
        assert patched.value == "us-east-1" and patched.description == "where"
        assert api.get_variable("region").value == "us-east-1"

        bulk = api.bulk_variables(
            af.BulkBodyVariableBody.from_dict(
                {
                    "actions": [
                        {"action": "create", "entities": [{"key": "n1", "value": "1"}]},
                        {"action": "delete", "entities": ["n1"]},
                    ]
                }
            )
        )
        assert isinstance(bulk, af.BulkResponse)
        assert bulk.create is not None and bulk.create.success == ["n1"]
        assert bulk.delete is not None and bulk.delete.success == ["n1"]

        api.delete_variable("region")
        with pytest.raises(ApiException) as info:
            api.get_variable("region")
        assert info.value.status == 404


def test_connection_crud_through_the_official_client(server_url: str) -> None:
    secret = "client-side-pw-never-returned"
    with _client(server_url) as api_client:
        api = af.ConnectionApi(api_client)
        created = api.post_connection(
            af.ConnectionBody(
                connection_id="warehouse",
                conn_type="postgres",
                host="db.internal",
                port=5432,
                login="etl",
                password=secret,
                extra=json.dumps({"sslmode": "require", "token": "t0k3n"}),
            )
        )
        assert isinstance(created, af.ConnectionResponse)
        assert created.password == "***"
        assert json.loads(created.extra or "") == {"sslmode": "require", "token": "***"}

        got = api.get_connection("warehouse")
        assert (got.host, got.port, got.login) == ("db.internal", 5432, "etl")
        listing = api.get_connections(connection_id_pattern="ware")
        assert isinstance(listing, af.ConnectionCollectionResponse)
        assert [c.connection_id for c in listing.connections] == ["warehouse"]

        patched = api.patch_connection(
            "warehouse",
            af.ConnectionBody(connection_id="warehouse", conn_type="postgres", host="db2"),
            update_mask=["host"],
        )
        assert patched.host == "db2" and patched.password == "***"

        bulk = api.bulk_connections(
            af.BulkBodyConnectionBody.from_dict(
                {
                    "actions": [
                        {
                            "action": "create",
                            "entities": [{"connection_id": "tmp", "conn_type": "http"}],
                        }
                    ]
                }
            )
        )
        assert bulk.create is not None and bulk.create.success == ["tmp"]

        with pytest.raises(ApiException) as disabled:
            api.test_connection(af.ConnectionBody(connection_id="warehouse", conn_type="postgres"))
        assert disabled.value.status == 403

        api.delete_connection("warehouse")
        api.delete_connection("tmp")
        assert api.get_connections().total_entries == 0

        events = af.EventLogApi(api_client).get_event_logs(event_pattern="connection")
        assert isinstance(events, af.EventLogCollectionResponse)
        assert [e.event for e in events.event_logs][:2] == ["post_connection", "patch_connection"]
        assert all(secret not in (e.extra or "") for e in events.event_logs)
        first = af.EventLogApi(api_client).get_event_log(events.event_logs[0].event_log_id)
        assert first.owner == ADMIN


def test_the_client_without_a_token_gets_airflows_401(server_url: str) -> None:
    with (
        af.ApiClient(af.Configuration(host=server_url)) as api_client,
        pytest.raises(ApiException) as info,
    ):
        af.VariableApi(api_client).get_variables()
    assert info.value.status == 401
    assert json.loads(info.value.body or "{}") == {"detail": "Not authenticated"}
