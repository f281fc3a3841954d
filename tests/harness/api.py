"""The API under test: a real app on the test's database, clients, users of each role.

``api_app`` runs the app's lifespan (roles, bootstrap) like a server would; ``api_client``
talks to it in-process through httpx's ASGI transport. ``auth_headers("Viewer")`` returns a
``Authorization`` header for a fresh user holding that role — tokens are minted directly (no
bcrypt round trip), so tests stay fast; login itself is tested through ``/auth/token``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from leoflow.api.app import create_app
from leoflow.api.security import SecurityState
from leoflow.auth.passwords import hash_password
from leoflow.config import Settings
from leoflow.secrets.cipher import generate_secret_key
from leoflow.store import roles, tenants, users
from leoflow.store.pool import Pool

TEST_JWT_SECRET = "leoflow-test-jwt-secret-0123456789abcdef"
TEST_PASSWORD = "correct horse battery staple"


@cache
def _test_password_hash() -> str:
    """One bcrypt hash per session (cost 12 is slow on purpose)."""
    return hash_password(TEST_PASSWORD)


def api_settings(**overrides: Any) -> Settings:
    """Settings for an API under test: fixed JWT secret, a fresh secret key, no cache."""
    values: dict[str, Any] = {
        "jwt_secret": TEST_JWT_SECRET,
        "secret_key": generate_secret_key(),
        "auth_cache_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


def security_of(app: FastAPI) -> SecurityState:
    """The security state of ``app``."""
    state: SecurityState = app.state.security
    return state


async def create_test_user(
    pool: Pool,
    role: str | None,
    *,
    username: str | None = None,
    tenant: str = tenants.DEFAULT_TENANT,
) -> users.User:
    """A user (password :data:`TEST_PASSWORD`) holding ``role`` in ``tenant``."""
    name = username or f"{(role or 'norole').lower()}-{uuid.uuid4().hex[:8]}"
    user = await users.create_user(pool, name, password_hash=_test_password_hash())
    if role is not None:
        tenant_id = await tenants.get_tenant_id(pool, tenant)
        await roles.set_user_roles(pool, user.id, tenant_id, [role])
    return user


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization`` header."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api_app(db_pool: Pool) -> AsyncIterator[FastAPI]:
    """The Leoflow API on this test's database, lifespan started."""
    app = create_app(db_pool, api_settings())
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api_client(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``api_app`` in-process."""
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


AuthHeaders = Callable[[str], Awaitable[dict[str, str]]]


@pytest.fixture
def auth_headers(api_app: FastAPI, db_pool: Pool) -> AuthHeaders:
    """``await auth_headers("Op")`` → headers of a fresh user with that role."""

    async def make(role: str) -> dict[str, str]:
        user = await create_test_user(db_pool, role)
        issued = security_of(api_app).auth.tokens.mint(user.username, tenants.DEFAULT_TENANT)
        return bearer(issued.token)

    return make
