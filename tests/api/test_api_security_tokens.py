"""Token handling of the real API: Airflow's exact 401/403 answers for every bad token."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from harness.api import AuthHeaders, bearer, create_test_user, security_of
from leoflow.auth.bootstrap import ensure_builtin_roles
from leoflow.auth.tokens import mint_agent_token
from leoflow.store import audit, tenants, users
from leoflow.store.pool import Pool
from leoflow.telemetry.metrics import REGISTRY

PROTECTED = "/api/v2/variables"


def _failures(reason: str) -> float:
    return REGISTRY.get_sample_value("leoflow_auth_failures_total", {"reason": reason}) or 0.0


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _op_token(
    app: FastAPI, pool: Pool, *, expires_in: int | None = None, now: datetime | None = None
) -> str:
    user = await create_test_user(pool, "Op")
    tokens = security_of(app).auth.tokens
    return tokens.mint(user.username, "default", expires_in=expires_in, now=now).token


async def test_no_token_is_401_not_authenticated(api_client: httpx.AsyncClient) -> None:
    before = _failures("not_authenticated")
    response = await api_client.get(PROTECTED)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert _failures("not_authenticated") == before + 1


async def test_valid_bearer_and_cookie_are_accepted(
    api_app: FastAPI, api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    token = await _op_token(api_app, db_pool)
    assert (await api_client.get(PROTECTED, headers=bearer(token))).status_code == 200
    api_client.cookies.set("_token", token)
    try:
        assert (await api_client.get(PROTECTED)).status_code == 200
    finally:
        api_client.cookies.clear()


async def test_expired_token_is_401_token_expired(
    api_app: FastAPI, api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    token = await _op_token(
        api_app, db_pool, expires_in=60, now=datetime.now(UTC) - timedelta(hours=1)
    )
    before = _failures("token_expired")
    response = await api_client.get(PROTECTED, headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"detail": "Token Expired"}
    assert _failures("token_expired") == before + 1


async def test_tampered_token_is_403_invalid(
    api_app: FastAPI, api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    viewer = await create_test_user(db_pool, "Viewer")
    admin = await create_test_user(db_pool, "Admin")
    token = security_of(api_app).auth.tokens.mint(viewer.username, "default").token
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["sub"] = admin.username
    claims["roles"] = ["Admin"]
    forged = f"{header}.{_b64(claims)}.{signature}"
    response = await api_client.get(PROTECTED, headers=bearer(forged))
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid JWT token"}


async def test_alg_none_is_403_invalid(
    api_app: FastAPI, api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    token = await _op_token(api_app, db_pool)
    claims = jwt.decode(token, options={"verify_signature": False})
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    response = await api_client.get(PROTECTED, headers=bearer(unsigned))
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid JWT token"}


async def test_agent_token_is_refused_by_the_rest_api(
    api_app: FastAPI, api_client: httpx.AsyncClient
) -> None:
    agent = mint_agent_token(
        security_of(api_app).jwt_secret,
        tenant="default",
        dag_id="d",
        run_id="r",
        task_id="t",
    )
    response = await api_client.get(PROTECTED, headers=bearer(agent))
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid JWT token"}


async def test_wrong_audience_with_the_right_key_is_refused(
    api_app: FastAPI, api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    token = await _op_token(api_app, db_pool)
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["aud"] = "apache-airflow"
    key = security_of(api_app).auth.tokens._key  # the user-audience signing key itself
    forged = jwt.encode(claims, key, algorithm="HS256")
    response = await api_client.get(PROTECTED, headers=bearer(forged))
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid JWT token"}


@pytest.mark.parametrize("garbage", ["x", "header.payload.sig", "a.b"])
async def test_garbage_is_403_invalid(api_client: httpx.AsyncClient, garbage: str) -> None:
    response = await api_client.get(PROTECTED, headers=bearer(garbage))
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid JWT token"}
    api_client.cookies.set("_token", garbage)
    try:
        response = await api_client.get(PROTECTED)
    finally:
        api_client.cookies.clear()
    assert response.status_code == 403


async def test_disabled_or_deleted_user_loses_access_at_once(
    api_app: FastAPI, api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    user = await create_test_user(db_pool, "Op")
    token = security_of(api_app).auth.tokens.mint(user.username, "default").token
    assert (await api_client.get(PROTECTED, headers=bearer(token))).status_code == 200
    await users.set_active(db_pool, user.id, False)
    response = await api_client.get(PROTECTED, headers=bearer(token))
    assert (response.status_code, response.json()) == (403, {"detail": "Invalid JWT token"})


async def test_token_for_another_tenant_sees_nothing_of_this_one(
    api_app: FastAPI, api_client: httpx.AsyncClient, db_pool: Pool, auth_headers: AuthHeaders
) -> None:
    async with db_pool.connection() as conn:
        await conn.execute("INSERT INTO tenants (name) VALUES ('acme')")
    await ensure_builtin_roles(db_pool)
    default_op = await auth_headers("Op")
    created = await api_client.post(
        "/api/v2/variables", json={"key": "only_default", "value": "1"}, headers=default_op
    )
    assert created.status_code == 201

    acme_user = await create_test_user(db_pool, "Op", tenant="acme")
    acme = bearer(security_of(api_app).auth.tokens.mint(acme_user.username, "acme").token)
    listing = await api_client.get("/api/v2/variables", headers=acme)
    assert listing.json() == {"variables": [], "total_entries": 0}
    assert (await api_client.get("/api/v2/variables/only_default", headers=acme)).status_code == 404

    # the same user has no role in `default`: a token naming it grants nothing there
    sneaky = bearer(security_of(api_app).auth.tokens.mint(acme_user.username, "default").token)
    response = await api_client.get("/api/v2/variables", headers=sneaky)
    assert (response.status_code, response.json()) == (403, {"detail": "Forbidden"})


async def test_permission_denial_is_counted_and_audited(
    api_client: httpx.AsyncClient, db_pool: Pool, auth_headers: AuthHeaders
) -> None:
    viewer = await auth_headers("Viewer")
    before = _failures("forbidden")
    response = await api_client.get("/api/v2/connections", headers=viewer)
    assert (response.status_code, response.json()) == (403, {"detail": "Forbidden"})
    assert _failures("forbidden") == before + 1
    tenant_id = await tenants.get_default_tenant_id(db_pool)
    entries, _ = await audit.list_entries(
        db_pool, tenant_id, audit.AuditFilter(equals={"event": "permission_denied"})
    )
    assert len(entries) == 1
    assert entries[0].extra == {
        "permission": "connections:read",
        "method": "GET",
        "path": "/api/v2/connections",
    }
