"""``POST /auth/token``, login throttling, the SPA's login redirect and logout."""

from __future__ import annotations

import httpx
import jwt
from fastapi import FastAPI

from harness.api import TEST_PASSWORD, bearer, create_test_user
from leoflow.auth.bootstrap import ensure_builtin_roles
from leoflow.store import audit, tenants
from leoflow.store.pool import Pool
from leoflow.telemetry.metrics import REGISTRY


def _failures(reason: str) -> float:
    return REGISTRY.get_sample_value("leoflow_auth_failures_total", {"reason": reason}) or 0.0


async def _events(pool: Pool, event: str) -> list[audit.AuditEntry]:
    tenant_id = await tenants.get_default_tenant_id(pool)
    entries, _ = await audit.list_entries(
        pool, tenant_id, audit.AuditFilter(equals={"event": event})
    )
    return entries


async def test_json_login_gives_201_and_a_working_token(
    api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    user = await create_test_user(db_pool, "Op")
    response = await api_client.post(
        "/auth/token", json={"username": user.username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user.username
    assert claims["tenant"] == "default"
    assert claims["roles"] == ["Op"]
    assert claims["aud"] == "leoflow-user"
    assert {"jti", "iat", "exp"} <= set(claims)
    listing = await api_client.get("/api/v2/variables", headers=bearer(body["access_token"]))
    assert listing.status_code == 200
    logins = await _events(db_pool, "login")
    assert [e.actor for e in logins] == [user.username]


async def test_form_login_and_cli_lifetime(api_client: httpx.AsyncClient, db_pool: Pool) -> None:
    user = await create_test_user(db_pool, "Viewer")
    response = await api_client.post(
        "/auth/token", data={"username": user.username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 201
    cli = await api_client.post(
        "/auth/token/cli", json={"username": user.username, "password": TEST_PASSWORD}
    )
    assert cli.status_code == 201 and cli.json()["expires_in"] == 3600


async def test_bad_password_is_401_counted_and_audited(
    api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    user = await create_test_user(db_pool, "Op")
    before = _failures("bad_credentials")
    response = await api_client.post(
        "/auth/token", json={"username": user.username, "password": "wrong-password"}
    )
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid credentials"})
    unknown = await api_client.post(
        "/auth/token", json={"username": "nobody", "password": "wrong-password"}
    )
    assert (unknown.status_code, unknown.json()) == (401, {"detail": "Invalid credentials"})
    assert _failures("bad_credentials") == before + 2
    failed = await _events(db_pool, "login_failed")
    assert [(e.actor, e.extra and e.extra["reason"]) for e in failed] == [
        (user.username, "bad_password"),
        ("nobody", "unknown_user"),
    ]
    assert all("wrong-password" not in str(e.extra) for e in failed)


async def test_sixth_failed_login_within_a_minute_is_429(
    api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    user = await create_test_user(db_pool, "Op")
    wrong = {"username": user.username, "password": "not-the-password"}
    for _ in range(5):
        assert (await api_client.post("/auth/token", json=wrong)).status_code == 401
    before = _failures("throttled")
    sixth = await api_client.post("/auth/token", json=wrong)
    assert sixth.status_code == 429
    retry_after = int(sixth.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert "Too many failed login attempts" in sixth.json()["detail"]
    assert _failures("throttled") == before + 1
    right = await api_client.post(
        "/auth/token", json={"username": user.username, "password": TEST_PASSWORD}
    )
    assert right.status_code == 429, "the correct password waits too: no oracle while throttled"


async def test_missing_fields_and_content_types(api_client: httpx.AsyncClient) -> None:
    empty = await api_client.post("/auth/token", json={"username": "", "password": ""})
    assert (empty.status_code, empty.json()) == (
        400,
        {"detail": "Username and password must be provided"},
    )
    missing = await api_client.post("/auth/token", json={"username": "a"})
    assert missing.status_code == 422
    text = await api_client.post(
        "/auth/token", content="username=a", headers={"Content-Type": "text/plain"}
    )
    assert (text.status_code, text.json()) == (415, {"detail": "Unsupported Media Type"})


async def test_login_redirect_for_the_spa(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get(
        "/api/v2/auth/login", params={"next": "http://testserver/dags/x"}
    )
    assert response.status_code == 307
    assert response.headers["location"] == "/auth/login?next=http%3A%2F%2Ftestserver%2Fdags%2Fx"
    plain = await api_client.get("/api/v2/auth/login")
    assert (plain.status_code, plain.headers["location"]) == (307, "/auth/login")
    for unsafe in ("http://evil.example/", "//evil.example/x", "javascript:alert(1)", "\\\\evil"):
        bad = await api_client.get("/api/v2/auth/login", params={"next": unsafe})
        assert (bad.status_code, bad.json()) == (400, {"detail": "Invalid or unsafe next URL"})


async def test_logout_revokes_and_clears_the_cookie(
    api_app: FastAPI, api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    user = await create_test_user(db_pool, "Op")
    login = await api_client.post(
        "/auth/token", json={"username": user.username, "password": TEST_PASSWORD}
    )
    token = login.json()["access_token"]
    api_client.cookies.set("_token", token)
    try:
        assert (await api_client.get("/api/v2/variables")).status_code == 200
        out = await api_client.get("/api/v2/auth/logout")
    finally:
        api_client.cookies.clear()
    assert out.status_code == 307 and out.headers["location"] == "/auth/login"
    assert '_token=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    before = _failures("revoked_token")
    again = await api_client.get("/api/v2/variables", headers=bearer(token))
    assert (again.status_code, again.json()) == (403, {"detail": "Invalid JWT token"})
    assert _failures("revoked_token") == before + 1
    assert [e.actor for e in await _events(db_pool, "logout")] == [user.username]


async def test_user_in_one_other_tenant_logs_into_it(
    api_client: httpx.AsyncClient, db_pool: Pool
) -> None:
    async with db_pool.connection() as conn:
        await conn.execute("INSERT INTO tenants (name) VALUES ('acme')")
    await ensure_builtin_roles(db_pool)
    user = await create_test_user(db_pool, "Op", tenant="acme")
    login = await api_client.post(
        "/auth/token", json={"username": user.username, "password": TEST_PASSWORD}
    )
    claims = jwt.decode(login.json()["access_token"], options={"verify_signature": False})
    assert claims["tenant"] == "acme"
    unknown = await api_client.post(
        "/auth/token",
        json={"username": user.username, "password": TEST_PASSWORD, "tenant": "nope"},
    )
    assert unknown.status_code == 401
