"""``/api/v2/variables`` against a real database: Airflow 3.3.2 shapes, messages and rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from harness.api import AuthHeaders, api_settings, bearer, create_test_user, security_of
from leoflow.api.app import create_app
from leoflow.store.pool import Pool


@pytest.fixture
async def op(auth_headers: AuthHeaders) -> dict[str, str]:
    return await auth_headers("Op")


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], **body: object
) -> httpx.Response:
    return await client.post("/api/v2/variables", json=body, headers=headers)


async def test_crud(api_client: httpx.AsyncClient, op: dict[str, str]) -> None:
    created = await _post(api_client, op, key="region", value="eu-west-1", description="where")
    assert created.status_code == 201
    assert created.json() == {
        "key": "region",
        "value": "eu-west-1",
        "description": "where",
        "is_encrypted": True,
        "team_name": None,
    }
    got = await api_client.get("/api/v2/variables/region", headers=op)
    assert got.json() == created.json()

    patched = await api_client.patch(
        "/api/v2/variables/region", json={"key": "region", "value": "us-east-1"}, headers=op
    )
    assert patched.status_code == 200
    assert patched.json()["value"] == "us-east-1"
    assert patched.json()["description"] == "where", "fields not sent are kept"

    deleted = await api_client.delete("/api/v2/variables/region", headers=op)
    assert deleted.status_code == 204 and deleted.content == b""
    missing = await api_client.get("/api/v2/variables/region", headers=op)
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "The Variable with key: `region` was not found"},
    )
    again = await api_client.delete("/api/v2/variables/region", headers=op)
    assert again.status_code == 404


async def test_json_values_are_stored_as_json_text(
    api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    created = await _post(api_client, op, key="cfg", value={"retries": 3, "hosts": ["a", "b"]})
    assert json.loads(created.json()["value"]) == {"retries": 3, "hosts": ["a", "b"]}
    number = await _post(api_client, op, key="n", value=42)
    assert number.json()["value"] == "42"


async def test_keys_with_slashes(api_client: httpx.AsyncClient, op: dict[str, str]) -> None:
    await _post(api_client, op, key="team/a/b", value="x")
    got = await api_client.get("/api/v2/variables/team/a/b", headers=op)
    assert got.status_code == 200 and got.json()["key"] == "team/a/b"


async def test_secret_looking_values_are_masked(
    api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    await _post(api_client, op, key="db_password", value="hunter2-value")
    await _post(api_client, op, key="cfg", value={"api_key": "k-123456", "host": "h"})
    masked = await api_client.get("/api/v2/variables/db_password", headers=op)
    assert masked.json()["value"] == "***"
    cfg = await api_client.get("/api/v2/variables/cfg", headers=op)
    assert json.loads(cfg.json()["value"]) == {"api_key": "***", "host": "h"}
    listing = await api_client.get("/api/v2/variables", headers=op)
    assert "hunter2-value" not in listing.text and "k-123456" not in listing.text


async def test_conflicts_and_validation(api_client: httpx.AsyncClient, op: dict[str, str]) -> None:
    await _post(api_client, op, key="dup", value="1")
    conflict = await _post(api_client, op, key="dup", value="2")
    assert (conflict.status_code, conflict.json()) == (
        409,
        {"detail": "The Variable with key: `dup` already exists"},
    )
    mismatch = await api_client.patch(
        "/api/v2/variables/dup", json={"key": "other", "value": "x"}, headers=op
    )
    assert (mismatch.status_code, mismatch.json()) == (
        400,
        {"detail": "Invalid body, key from request body doesn't match uri parameter"},
    )
    extra_field = await _post(api_client, op, key="x", value="1", unknown=True)
    assert extra_field.status_code == 422
    team = await _post(api_client, op, key="x", value="1", team_name="t")
    assert team.status_code == 422
    too_long = await _post(api_client, op, key="k" * 251, value="1")
    assert too_long.status_code == 422
    absent = await api_client.patch(
        "/api/v2/variables/ghost", json={"key": "ghost", "value": "x"}, headers=op
    )
    assert absent.status_code == 404


async def test_patch_with_update_mask(api_client: httpx.AsyncClient, op: dict[str, str]) -> None:
    await _post(api_client, op, key="m", value="old", description="old description")
    patched = await api_client.patch(
        "/api/v2/variables/m",
        params={"update_mask": ["description"]},
        json={"key": "m", "value": "ignored", "description": "new description"},
        headers=op,
    )
    assert patched.json()["value"] == "old"
    assert patched.json()["description"] == "new description"
    immutable = await api_client.patch(
        "/api/v2/variables/m",
        params={"update_mask": ["key"]},
        json={"key": "m", "value": "x"},
        headers=op,
    )
    assert immutable.status_code == 400
    assert "immutable" in immutable.json()["detail"] and "key" in immutable.json()["detail"]


async def test_list_paging_ordering_and_patterns(
    api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    for key in ("b_one", "a_two", "c_three", "a_four"):
        await _post(api_client, op, key=key, value=key)
    default = await api_client.get("/api/v2/variables", headers=op)
    assert [v["key"] for v in default.json()["variables"]] == [
        "b_one",
        "a_two",
        "c_three",
        "a_four",
    ]
    assert default.json()["total_entries"] == 4

    by_key = await api_client.get("/api/v2/variables", params={"order_by": "-key"}, headers=op)
    assert [v["key"] for v in by_key.json()["variables"]] == ["c_three", "b_one", "a_two", "a_four"]

    page = await api_client.get(
        "/api/v2/variables", params={"order_by": "key", "limit": 2, "offset": 1}, headers=op
    )
    assert [v["key"] for v in page.json()["variables"]] == ["a_two", "b_one"]
    assert page.json()["total_entries"] == 4

    pattern = await api_client.get(
        "/api/v2/variables", params={"variable_key_pattern": "T"}, headers=op
    )
    assert {v["key"] for v in pattern.json()["variables"]} == {"a_two", "c_three"}
    prefix = await api_client.get(
        "/api/v2/variables", params={"variable_key_prefix_pattern": "a_"}, headers=op
    )
    assert {v["key"] for v in prefix.json()["variables"]} == {"a_two", "a_four"}
    assert prefix.json()["total_entries"] == 2

    alternatives = await api_client.get(
        "/api/v2/variables", params={"variable_key_pattern": "one|FOUR"}, headers=op
    )
    assert {v["key"] for v in alternatives.json()["variables"]} == {"b_one", "a_four"}
    everything = await api_client.get(
        "/api/v2/variables", params={"variable_key_pattern": "~"}, headers=op
    )
    assert everything.json()["total_entries"] == 4
    prefixes = await api_client.get(
        "/api/v2/variables", params={"variable_key_prefix_pattern": "a_|c"}, headers=op
    )
    assert {v["key"] for v in prefixes.json()["variables"]} == {"a_two", "a_four", "c_three"}

    bad = await api_client.get("/api/v2/variables", params={"order_by": "nope"}, headers=op)
    assert (bad.status_code, bad.json()) == (
        400,
        {
            "detail": "Ordering with 'nope' is disallowed or "
            "the attribute does not exist on the model"
        },
    )
    negative = await api_client.get("/api/v2/variables", params={"limit": -1}, headers=op)
    assert negative.status_code == 422


async def test_bulk(api_client: httpx.AsyncClient, op: dict[str, str]) -> None:
    await _post(api_client, op, key="existing", value="1")
    response = await api_client.patch(
        "/api/v2/variables",
        json={
            "actions": [
                {
                    "action": "create",
                    "entities": [{"key": "new1", "value": "a"}, {"key": "existing", "value": "2"}],
                    "action_on_existence": "skip",
                },
                {
                    "action": "update",
                    "entities": [{"key": "existing", "value": "3"}, {"key": "ghost", "value": "x"}],
                    "action_on_non_existence": "skip",
                },
                {
                    "action": "delete",
                    "entities": ["new1", {"key": "ghost", "value": ""}],
                    "action_on_non_existence": "skip",
                },
            ]
        },
        headers=op,
    )
    assert response.status_code == 200
    assert response.json() == {
        "create": {"success": ["new1"], "errors": []},
        "update": {"success": ["existing"], "errors": []},
        "delete": {"success": ["new1"], "errors": []},
    }
    value = await api_client.get("/api/v2/variables/existing", headers=op)
    assert value.json()["value"] == "3"

    failing = await api_client.patch(
        "/api/v2/variables",
        json={"actions": [{"action": "create", "entities": [{"key": "existing", "value": "9"}]}]},
        headers=op,
    )
    assert failing.json()["create"] == {
        "success": [],
        "errors": [
            {
                "error": "The variables with these keys: {'existing'} already exist.",
                "status_code": 409,
            }
        ],
    }
    assert failing.json()["update"] is None

    overwrite = await api_client.patch(
        "/api/v2/variables",
        json={
            "actions": [
                {
                    "action": "create",
                    "entities": [{"key": "existing", "value": "9"}],
                    "action_on_existence": "overwrite",
                }
            ]
        },
        headers=op,
    )
    assert overwrite.json()["create"]["success"] == ["existing"]
    value = await api_client.get("/api/v2/variables/existing", headers=op)
    assert value.json()["value"] == "9"


async def test_changes_are_audited_without_values(
    api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    await _post(api_client, op, key="audited", value="top-secret-value")
    await api_client.delete("/api/v2/variables/audited", headers=op)
    logs = await api_client.get(
        "/api/v2/eventLogs", params={"event_pattern": "variable"}, headers=op
    )
    events = [(e["event"], json.loads(e["extra"])) for e in logs.json()["event_logs"]]
    assert events == [
        ("post_variable", {"key": "audited"}),
        ("delete_variable", {"key": "audited"}),
    ]
    assert "top-secret-value" not in logs.text


async def test_values_are_sealed_at_rest(
    api_client: httpx.AsyncClient, op: dict[str, str], database_url: str
) -> None:
    await _post(api_client, op, key="plain_looking", value="visible-only-through-the-api")
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT value, is_encrypted FROM variables").fetchone()
    assert row is not None
    assert row[1] is True
    assert "visible-only-through-the-api" not in row[0]


@pytest.fixture
async def keyless(db_pool: Pool) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(db_pool, api_settings(secret_key=None))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield app, client


async def test_without_a_key(
    keyless: tuple[FastAPI, httpx.AsyncClient],
    api_client: httpx.AsyncClient,
    op: dict[str, str],
    db_pool: Pool,
) -> None:
    app, client = keyless
    user = await create_test_user(db_pool, "Op")
    headers = bearer(security_of(app).auth.tokens.mint(user.username, "default").token)

    plain = await _post(client, headers, key="region", value="eu")
    assert plain.status_code == 201 and plain.json()["is_encrypted"] is False
    secret = await _post(client, headers, key="db_password", value="hunter2-hunter2")
    assert secret.status_code == 503
    assert "LEOFLOW_SECRET_KEY" in secret.json()["detail"]

    await _post(api_client, op, key="sealed", value="x")  # written by a server with a key
    unreadable = await client.get("/api/v2/variables/sealed", headers=headers)
    assert unreadable.status_code == 503
    assert "LEOFLOW_SECRET_KEY" in unreadable.json()["detail"]
    readable = await api_client.get("/api/v2/variables/region", headers=op)
    assert readable.json()["value"] == "eu"


async def test_an_empty_key_is_422_naming_the_field(
    api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    await _post(api_client, op, key="kept", value="1")
    empty = await _post(api_client, op, key="", value="1")
    assert empty.status_code == 422
    assert [error["loc"] for error in empty.json()["detail"]] == [["body", "key"]]
    bulk = await api_client.patch(
        "/api/v2/variables",
        json={"actions": [{"action": "create", "entities": [{"key": "", "value": "1"}]}]},
        headers=op,
    )
    assert bulk.status_code == 422
    listed = await api_client.get("/api/v2/variables", headers=op)
    assert [v["key"] for v in listed.json()["variables"]] == ["kept"]


async def test_a_bulk_action_of_unknown_kind_is_422_and_applies_nothing(
    api_client: httpx.AsyncClient, op: dict[str, str]
) -> None:
    create = {"action": "create", "entities": [{"key": "new", "value": "1"}]}
    for odd in ({"action": "upsert", "entities": []}, {"entities": []}, ["create"], 7):
        answer = await api_client.patch(
            "/api/v2/variables", json={"actions": [create, odd]}, headers=op
        )
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["detail"]
        assert error["loc"] == ["body", "actions", 1]
        assert error["type"] in {"union_tag_invalid", "union_tag_not_found"}
    unknown = await api_client.patch(
        "/api/v2/variables",
        json={"actions": [{"action": "upsert", "entities": []}]},
        headers=op,
    )
    assert "'create', 'update', 'delete'" in unknown.json()["detail"][0]["msg"]
    listed = await api_client.get("/api/v2/variables", headers=op)
    assert listed.json()["total_entries"] == 0
