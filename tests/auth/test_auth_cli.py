"""``leoflow users``, ``leoflow auth token`` and ``leoflow connections rotate-key``."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from leoflow.auth.passwords import verify_password
from leoflow.auth.tokens import UserTokens
from leoflow.cli.main import app
from leoflow.secrets.cipher import SecretCipher, generate_secret_key, parse_secret_key
from leoflow.secrets.connections import open_connection, seal
from leoflow.store import connections
from leoflow.store.pool import create_pool
from leoflow.store.tenants import get_default_tenant_id

runner = CliRunner()
JWT_SECRET = "cli-test-jwt-secret-0123456789abcdef"


def _env(url: str | None, **extra: str | None) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "LEOFLOW_DATABASE_URL": url,
        "LEOFLOW_CONFIG_FILE": None,
        "LEOFLOW_JWT_SECRET": JWT_SECRET,
        "LEOFLOW_SECRET_KEY": None,
        "LEOFLOW_SECRET_KEY_PREVIOUS": None,
    }
    env.update(extra)
    return env


def _password_hash(url: str, username: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE username = %s", (username,))
        found = row.fetchone()
    assert found is not None
    return str(found[0])


def test_without_a_database_the_fix_is_named() -> None:
    result = runner.invoke(app, ["users", "list"], env=_env(None))
    assert result.exit_code == 2
    assert "LEOFLOW_DATABASE_URL is not set" in result.output


def test_create_list_set_password_and_token(database_url: str) -> None:
    env = _env(database_url)
    created = runner.invoke(
        app, ["users", "create", "alice", "--role", "op", "--password", "first-pass-123"], env=env
    )
    assert created.exit_code == 0, created.output
    assert "Created user alice with role Op in tenant default" in created.output
    assert _password_hash(database_url, "alice").startswith("$2b$12$")

    listed = runner.invoke(app, ["users", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "alice" in listed.output and "default: Op" in listed.output

    duplicate = runner.invoke(
        app, ["users", "create", "alice", "--password", "first-pass-123"], env=env
    )
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad_role = runner.invoke(
        app, ["users", "create", "bob", "--role", "root", "--password", "x" * 12], env=env
    )
    assert bad_role.exit_code == 1 and "unknown role" in bad_role.output
    short = runner.invoke(app, ["users", "create", "bob", "--password", "short"], env=env)
    assert short.exit_code == 1 and "8 characters" in short.output

    changed = runner.invoke(
        app, ["users", "set-password", "alice"], input="second-pass-456\nsecond-pass-456\n", env=env
    )
    assert changed.exit_code == 0, changed.output
    assert "second-pass-456" not in changed.output
    assert verify_password("second-pass-456", _password_hash(database_url, "alice"))

    token = runner.invoke(app, ["auth", "token", "alice", "--password", "second-pass-456"], env=env)
    assert token.exit_code == 0, token.output
    claims = UserTokens(JWT_SECRET).verify(token.output.strip())
    assert (claims.username, claims.tenant, claims.roles) == ("alice", "default", ("Op",))
    assert (claims.expires_at - claims.issued_at).total_seconds() == 3600

    refused = runner.invoke(
        app, ["auth", "token", "alice", "--password", "first-pass-123"], env=env
    )
    assert refused.exit_code == 1 and "invalid credentials" in refused.output


def test_token_needs_the_servers_secret(database_url: str, tmp_path: Path) -> None:
    env = _env(database_url, LEOFLOW_JWT_SECRET=None, LEOFLOW_HOME=str(tmp_path))
    result = runner.invoke(app, ["auth", "token", "alice", "--password", "whatever-123"], env=env)
    assert result.exit_code == 2
    assert "LEOFLOW_JWT_SECRET" in result.output


def _store_connection(url: str, cipher: SecretCipher) -> None:
    async def work() -> None:
        pool = await create_pool(url)
        try:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT id FROM tenants WHERE name = 'default'")
                row = await cur.fetchone()
                assert row is not None
                tenant_id, row_id = row[0], uuid.uuid4()
                await connections.insert_connection(
                    conn,
                    connections.NewConnection(
                        id=row_id,
                        tenant_id=tenant_id,
                        conn_id="warehouse",
                        conn_type="postgres",
                        password_encrypted=seal(cipher, tenant_id, row_id, "password", "pw"),
                    ),
                )
        finally:
            await pool.close()

    asyncio.run(work())


def _open_password(url: str, cipher: SecretCipher) -> str | None:
    async def work() -> str | None:
        pool = await create_pool(url)
        try:
            rows, _ = await connections.list_connections(pool, await get_default_tenant_id(pool))
            return open_connection(cipher, rows[0]).password
        finally:
            await pool.close()

    return asyncio.run(work())


def test_rotate_key(database_url: str) -> None:
    old, new = generate_secret_key(), generate_secret_key()
    _store_connection(database_url, SecretCipher(parse_secret_key(old)))

    missing_old = runner.invoke(
        app, ["connections", "rotate-key"], env=_env(database_url, LEOFLOW_SECRET_KEY=new)
    )
    assert missing_old.exit_code == 1
    assert "rotation aborted, nothing changed" in missing_old.output

    rotated = runner.invoke(
        app,
        ["connections", "rotate-key", "--old-key", old],
        env=_env(database_url, LEOFLOW_SECRET_KEY=new),
    )
    assert rotated.exit_code == 0, rotated.output
    assert "Re-encrypted 1 of 1 connection(s) and 0 of 0 variable(s)" in rotated.output
    assert _open_password(database_url, SecretCipher(parse_secret_key(new))) == "pw"

    again = runner.invoke(
        app,
        ["connections", "rotate-key"],
        env=_env(database_url, LEOFLOW_SECRET_KEY=new, LEOFLOW_SECRET_KEY_PREVIOUS=old),
    )
    assert again.exit_code == 0, again.output

    no_key = runner.invoke(app, ["connections", "rotate-key"], env=_env(database_url))
    assert no_key.exit_code == 2 and "LEOFLOW_SECRET_KEY" in no_key.output
