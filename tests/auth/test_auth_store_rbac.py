"""Roles in the database: the seeded map, per-tenant access, bootstrap admin, revocation,
and key rotation over real connection rows."""

from __future__ import annotations

import importlib.util
import itertools
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from harness.api import TEST_PASSWORD, create_test_user
from leoflow.auth.bootstrap import (
    bootstrap_from_settings,
    ensure_admin,
    ensure_builtin_roles,
    ensure_lite_admin,
    persistent_secret,
    with_lite_secrets,
)
from leoflow.auth.passwords import verify_password
from leoflow.auth.rbac import BUILTIN_ROLES, ROLE_ORDER, Permission
from leoflow.config import Settings
from leoflow.secrets.cipher import DecryptionError, SecretCipher, parse_secret_key
from leoflow.secrets.connections import open_connection, rotate_connection_secrets, seal
from leoflow.secrets.variables import read_value, rotate_variable_secrets, store_value
from leoflow.store import connections, revoked_tokens, roles, tenants, users, variables
from leoflow.store.pool import Pool

_MIGRATION = (
    Path(__file__).parents[2]
    / "src/leoflow/store/migrations/versions/v0002_auth_tokens_and_roles.py"
)


def _migration_roles() -> dict[str, tuple[str, ...]]:
    spec = importlib.util.spec_from_file_location("v0002", _MIGRATION)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seeded: dict[str, tuple[str, ...]] = module.BUILTIN_ROLES
    return seeded


def test_migration_seed_equals_the_code_map() -> None:
    seeded = {name: frozenset(perms) for name, perms in _migration_roles().items()}
    assert seeded == BUILTIN_ROLES
    assert set(BUILTIN_ROLES["Admin"]) == {str(p) for p in Permission}


def test_roles_form_a_ladder() -> None:
    for lower, higher in itertools.pairwise(ROLE_ORDER):
        assert BUILTIN_ROLES[lower] < BUILTIN_ROLES[higher]
    assert "connections:read" not in BUILTIN_ROLES["User"]
    assert "runs:trigger" not in BUILTIN_ROLES["Viewer"]


async def test_migrated_database_has_the_roles(db_pool: Pool) -> None:
    tenant_id = await tenants.get_default_tenant_id(db_pool)
    found = {role.name: role.permissions for role in await roles.list_roles(db_pool, tenant_id)}
    assert found == BUILTIN_ROLES


async def test_access_is_per_tenant(db_pool: Pool) -> None:
    async with db_pool.connection() as conn:
        await conn.execute("INSERT INTO tenants (name) VALUES ('acme')")
    await ensure_builtin_roles(db_pool)
    user = await create_test_user(db_pool, "Viewer")
    acme = await tenants.get_tenant_id(db_pool, "acme")
    await roles.set_user_roles(db_pool, user.id, acme, ["Op"])

    default = await roles.load_user_access(db_pool, user.username, "default")
    in_acme = await roles.load_user_access(db_pool, user.username, "acme")
    assert default is not None and in_acme is not None
    assert default.roles == {"Viewer"} and in_acme.roles == {"Op"}
    assert "connections:read" in in_acme.permissions
    assert "connections:read" not in default.permissions
    assert in_acme.tenant_id == acme != default.tenant_id
    assert await roles.user_tenants(db_pool, user.id) == ["acme", "default"]
    assert await roles.load_user_access(db_pool, user.username, "nope") is None
    assert await roles.load_user_access(db_pool, "ghost", "default") is None


async def test_unknown_role_is_refused(db_pool: Pool) -> None:
    user = await create_test_user(db_pool, None)
    tenant_id = await tenants.get_default_tenant_id(db_pool)
    with pytest.raises(roles.RoleNotFoundError, match="Superuser"):
        await roles.set_user_roles(db_pool, user.id, tenant_id, ["Superuser"])


async def test_bootstrap_admin_is_created_once_and_never_reset(db_pool: Pool) -> None:
    first = await ensure_admin(db_pool, "root", "first-password")
    assert first.created and first.generated_password is None
    user = await users.get_user_by_username(db_pool, "root")
    assert user is not None
    access = await roles.load_user_access(db_pool, "root", "default")
    assert access is not None and access.roles == {"Admin"}

    again = await ensure_admin(db_pool, "root", "second-password")
    assert not again.created
    after = await users.get_user_by_username(db_pool, "root")
    assert after is not None and verify_password("first-password", after.password_hash)


async def test_bootstrap_from_settings_needs_a_password(db_pool: Pool) -> None:
    assert await bootstrap_from_settings(db_pool, Settings(admin_username="boss")) is None
    assert await users.get_user_by_username(db_pool, "boss") is None
    done = await bootstrap_from_settings(
        db_pool, Settings(admin_username="boss", admin_password=SecretStr(TEST_PASSWORD))
    )
    assert done is not None and done.created


async def test_lite_admin_gets_a_generated_password_shown_once(db_pool: Pool) -> None:
    first = await ensure_lite_admin(db_pool, Settings())
    assert first.username == "admin" and first.created
    assert first.generated_password and len(first.generated_password) >= 16
    user = await users.get_user_by_username(db_pool, "admin")
    assert user is not None and verify_password(first.generated_password, user.password_hash)
    second = await ensure_lite_admin(db_pool, Settings())
    assert not second.created and second.generated_password is None


def test_lite_secrets_persist_owner_only(tmp_path: Path) -> None:
    settings = with_lite_secrets(Settings(home=tmp_path))
    assert settings.jwt_secret is not None and settings.secret_key is not None
    assert len(parse_secret_key(settings.secret_key.get_secret_value())) == 32
    again = with_lite_secrets(Settings(home=tmp_path))
    assert again.jwt_secret == settings.jwt_secret
    assert again.secret_key == settings.secret_key
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600
    configured = Settings(home=tmp_path / "other", jwt_secret=SecretStr("x" * 32))
    assert with_lite_secrets(configured).jwt_secret == configured.jwt_secret
    assert persistent_secret(tmp_path / "jwt_secret") == settings.jwt_secret.get_secret_value()


async def test_revocation_store(db_pool: Pool) -> None:
    user = await create_test_user(db_pool, "Viewer")
    soon = datetime.now(UTC) + timedelta(hours=1)
    await revoked_tokens.revoke(db_pool, "abc", expires_at=soon, user_id=user.id)
    await revoked_tokens.revoke(db_pool, "abc", expires_at=soon, user_id=user.id)
    await revoked_tokens.revoke(db_pool, "old", expires_at=datetime.now(UTC) - timedelta(hours=1))
    assert await revoked_tokens.is_revoked(db_pool, "abc")
    assert not await revoked_tokens.is_revoked(db_pool, "xyz")
    assert await revoked_tokens.purge_expired(db_pool) == 1
    assert await revoked_tokens.is_revoked(db_pool, "abc")


async def _store_connection(pool: Pool, cipher: SecretCipher, conn_id: str) -> uuid.UUID:
    tenant_id = await tenants.get_default_tenant_id(pool)
    row_id = uuid.uuid4()
    await connections.insert_connection(
        pool,
        connections.NewConnection(
            id=row_id,
            tenant_id=tenant_id,
            conn_id=conn_id,
            conn_type="postgres",
            password_encrypted=seal(cipher, tenant_id, row_id, "password", f"pw-{conn_id}"),
            extra_encrypted=seal(cipher, tenant_id, row_id, "extra", '{"token": "t"}'),
        ),
    )
    return tenant_id


async def test_rotation_re_encrypts_every_connection(db_pool: Pool) -> None:
    old, new = os.urandom(32), os.urandom(32)
    old_cipher = SecretCipher(old)
    tenant_id = await _store_connection(db_pool, old_cipher, "a")
    await _store_connection(db_pool, old_cipher, "b")
    await connections.insert_connection(
        db_pool,
        connections.NewConnection(
            id=uuid.uuid4(), tenant_id=tenant_id, conn_id="plain", conn_type="http"
        ),
    )

    async with db_pool.connection() as conn:
        result = await rotate_connection_secrets(conn, SecretCipher(new, [old]))
    assert (result.connections, result.rotated) == (3, 2)

    only_new = SecretCipher(new)
    for conn_id in ("a", "b"):
        row = await connections.get_connection(db_pool, tenant_id, conn_id)
        assert row is not None
        opened = open_connection(only_new, row)
        assert opened.password == f"pw-{conn_id}" and opened.extra == '{"token": "t"}'
        with pytest.raises(DecryptionError):
            open_connection(old_cipher, row)


async def test_rotation_without_the_old_key_changes_nothing(db_pool: Pool) -> None:
    old = os.urandom(32)
    tenant_id = await _store_connection(db_pool, SecretCipher(old), "a")
    before = await connections.get_connection(db_pool, tenant_id, "a")
    async with db_pool.connection() as conn:
        with pytest.raises(DecryptionError):
            await rotate_connection_secrets(conn, SecretCipher(os.urandom(32)))
    after = await connections.get_connection(db_pool, tenant_id, "a")
    assert before == after


async def test_variable_rotation_seals_plain_and_old_values(db_pool: Pool) -> None:
    old, new = os.urandom(32), os.urandom(32)
    tenant_id = await tenants.get_default_tenant_id(db_pool)
    sealed = store_value(SecretCipher(old), tenant_id, "api_key", "k-1")
    await variables.create_variable(db_pool, tenant_id, "api_key", sealed.value, is_encrypted=True)
    await variables.create_variable(db_pool, tenant_id, "region", "eu")
    await variables.create_variable(db_pool, tenant_id, "empty", None)

    async with db_pool.connection() as conn:
        assert await rotate_variable_secrets(conn, SecretCipher(new, [old])) == (3, 2)

    only_new = SecretCipher(new)
    for key, expected in (("api_key", "k-1"), ("region", "eu")):
        row = await variables.get_variable(db_pool, tenant_id, key)
        assert row is not None and row.is_encrypted
        assert read_value(only_new, tenant_id, key, row.value, row.is_encrypted) == expected
    moved = await variables.get_variable(db_pool, tenant_id, "region")
    assert moved is not None
    with pytest.raises(DecryptionError):
        read_value(only_new, tenant_id, "api_key", moved.value, True)
