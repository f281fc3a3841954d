"""``leoflow users``, ``leoflow auth`` and ``leoflow connections``: accounts, tokens, key rotation.

These commands work on the database directly (``LEOFLOW_DATABASE_URL``), so they also serve to
recover access: an operator with database access can reset any password. Passwords are read
from a hidden prompt unless given as an option, and never echoed or logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from leoflow.auth.bootstrap import JWT_SECRET_FILE, ensure_builtin_roles
from leoflow.auth.passwords import (
    PasswordPolicyError,
    check_password_policy,
    hash_password_async,
    verify_password_async,
)
from leoflow.auth.rbac import ROLE_ORDER, normalize_role
from leoflow.auth.tokens import JwtSecretError, UserTokens
from leoflow.config import Settings, load_settings
from leoflow.secrets.cipher import SecretCipher, SecretKeyError, parse_key_list, parse_secret_key
from leoflow.secrets.connections import rotate_connection_secrets
from leoflow.secrets.variables import rotate_variable_secrets
from leoflow.store import roles, tenants, users
from leoflow.store.pool import Pool, create_pool_from_settings

users_app = typer.Typer(
    help="Users: create, list, set passwords.", no_args_is_help=True, add_completion=False
)
auth_app = typer.Typer(
    help="Tokens for scripts and API clients.", no_args_is_help=True, add_completion=False
)
connections_app = typer.Typer(
    help="Connections: list, get, add, delete (over the API); rotate-key (database).",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_FAILED = 1
EXIT_NOT_CONFIGURED = 2

T = TypeVar("T")


def register_security_commands(app: typer.Typer) -> None:
    """Add the ``users``, ``auth`` and ``connections`` groups to the main command."""
    app.add_typer(users_app, name="users")
    app.add_typer(auth_app, name="auth")
    app.add_typer(connections_app, name="connections")


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def _run(settings: Settings, work: Callable[[Pool], Awaitable[T]]) -> T:
    if not settings.database_dsn():
        raise _fail(
            "LEOFLOW_DATABASE_URL is not set. Point it at the PostgreSQL database of the server, "
            "e.g. LEOFLOW_DATABASE_URL=postgresql://leoflow:secret@localhost:5432/leoflow",
            EXIT_NOT_CONFIGURED,
        )

    async def main() -> T:
        pool = await create_pool_from_settings(settings, application_name="leoflow-cli")
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def _new_password(given: str | None) -> str:
    password = given
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password_policy(password)
    except PasswordPolicyError as exc:
        raise _fail(str(exc)) from None
    return password


def _role(name: str) -> str:
    role = normalize_role(name)
    if role not in ROLE_ORDER:
        raise _fail(f"unknown role {name!r}; choose one of {', '.join(ROLE_ORDER)}")
    return role


@users_app.command("create")
def create_user_command(
    username: Annotated[str, typer.Argument(help="Login name (unique).")],
    *,
    role: Annotated[
        str, typer.Option(help=f"Role in the tenant: {', '.join(ROLE_ORDER)}.")
    ] = "Viewer",
    tenant: Annotated[str, typer.Option(help="Tenant the role applies to.")] = "default",
    password: Annotated[
        str | None, typer.Option(help="Password (prompted, hidden, when omitted).")
    ] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    first_name: Annotated[str | None, typer.Option(help="First name.")] = None,
    last_name: Annotated[str | None, typer.Option(help="Last name.")] = None,
) -> None:
    """Create a user with one role in a tenant."""
    role_name = _role(role)
    secret = _new_password(password)

    async def work(pool: Pool) -> None:
        await ensure_builtin_roles(pool)
        try:
            tenant_id = await tenants.get_tenant_id(pool, tenant)
        except tenants.TenantNotFoundError as exc:
            raise _fail(str(exc)) from None
        password_hash = await hash_password_async(secret)
        async with pool.connection() as conn, conn.transaction():
            try:
                user = await users.create_user(
                    conn,
                    username,
                    password_hash=password_hash,
                    email=email,
                    first_name=first_name,
                    last_name=last_name,
                )
            except users.UserExistsError as exc:
                raise _fail(f"{exc}; use `leoflow users set-password` to change it") from None
            await roles.set_user_roles(conn, user.id, tenant_id, [role_name])

    _run(load_settings(), work)
    typer.echo(f"Created user {username} with role {role_name} in tenant {tenant}.")


@users_app.command("list")
def list_users_command() -> None:
    """List users with their roles per tenant."""

    async def work(pool: Pool) -> list[tuple[users.User, str]]:
        rows: list[tuple[users.User, str]] = []
        for user in await users.list_users(pool):
            grants = []
            for tenant in await roles.user_tenants(pool, user.id):
                access = await roles.load_user_access(pool, user.username, tenant)
                if access is not None:
                    grants.append(f"{tenant}: {', '.join(sorted(access.roles))}")
            rows.append((user, "; ".join(grants) or "-"))
        return rows

    rows = _run(load_settings(), work)
    table = Table("username", "roles", "active", "last login")
    for user, grants in rows:
        last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "-"
        table.add_row(user.username, grants, "yes" if user.is_active else "no", last)
    Console().print(table)


@users_app.command("set-password")
def set_password_command(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Annotated[
        str | None, typer.Option(help="New password (prompted, hidden, when omitted).")
    ] = None,
) -> None:
    """Set a user's password (tokens already issued stay valid until they expire)."""
    secret = _new_password(password)

    async def work(pool: Pool) -> None:
        user = await users.get_user_by_username(pool, username)
        if user is None:
            raise _fail(f"no user named {username!r}")
        await users.set_password_hash(pool, user.id, await hash_password_async(secret))

    _run(load_settings(), work)
    typer.echo(f"Password of {username} changed.")


def signing_secret(settings: Settings) -> str | None:
    """The server's token signing secret: configured, or Lite's kept under ``home``."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    path = Path(settings.home) / JWT_SECRET_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return None


@auth_app.command("token")
def token_command(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Annotated[
        str | None, typer.Option(help="Password (prompted, hidden, when omitted).")
    ] = None,
    tenant: Annotated[str, typer.Option(help="Tenant the token acts in.")] = "default",
    expires_in: Annotated[
        int | None, typer.Option(help="Lifetime in seconds (default: the CLI token lifetime).")
    ] = None,
) -> None:
    """Print a bearer token for a user, after checking their password."""
    settings = load_settings()
    secret = signing_secret(settings)
    if secret is None:
        raise _fail(
            "LEOFLOW_JWT_SECRET is not set: set it to the server's value so the server "
            "accepts the token",
            EXIT_NOT_CONFIGURED,
        )
    given = password
    if given is None:
        given = typer.prompt("Password", hide_input=True)

    async def work(pool: Pool) -> tuple[str, ...]:
        user = await users.get_user_by_username(pool, username)
        ok = await verify_password_async(given, user.password_hash if user else None)
        if user is None or not ok or not user.is_active:
            raise _fail("invalid credentials")
        access = await roles.load_user_access(pool, username, tenant)
        if access is None:
            raise _fail(f"no tenant named {tenant!r}")
        return tuple(sorted(access.roles))

    granted = _run(settings, work)
    try:
        tokens = UserTokens(secret, expiration_seconds=settings.jwt_cli_expiration_seconds)
    except JwtSecretError as exc:
        raise _fail(str(exc), EXIT_NOT_CONFIGURED) from None
    issued = tokens.mint(username, tenant, granted, expires_in=expires_in)
    typer.echo(issued.token)


@connections_app.command("rotate-key")
def rotate_key_command(
    old_key: Annotated[
        list[str] | None,
        typer.Option(
            "--old-key",
            help="A key the secrets are sealed with now (repeatable); also read from "
            "LEOFLOW_SECRET_KEY_PREVIOUS (comma-separated).",
        ),
    ] = None,
) -> None:
    """Re-encrypt every connection's password and extra, and every variable, with
    LEOFLOW_SECRET_KEY.

    Set LEOFLOW_SECRET_KEY to the new key and pass the old one; run it while the servers
    know both keys (LEOFLOW_SECRET_KEY_PREVIOUS), then drop the old key everywhere.
    Everything is re-encrypted in one transaction, or nothing is.
    """
    settings = load_settings()
    if settings.secret_key is None:
        raise _fail("LEOFLOW_SECRET_KEY is not set: set it to the new key", EXIT_NOT_CONFIGURED)
    try:
        previous = [parse_secret_key(k, setting="--old-key") for k in old_key or ()]
        configured = settings.secret_key_previous
        previous += parse_key_list(configured.get_secret_value() if configured else None)
        primary = parse_secret_key(settings.secret_key.get_secret_value())
        cipher = SecretCipher(primary, previous)
    except SecretKeyError as exc:
        raise _fail(str(exc), EXIT_NOT_CONFIGURED) from None

    async def work(pool: Pool) -> tuple[int, int, int, int]:
        async with pool.connection() as conn, conn.transaction():
            result = await rotate_connection_secrets(conn, cipher)
            variables, sealed = await rotate_variable_secrets(conn, cipher)
        return result.connections, result.rotated, variables, sealed

    try:
        total, rotated, variables, sealed = _run(settings, work)
    except ValueError as exc:
        raise _fail(f"rotation aborted, nothing changed: {exc}") from None
    typer.echo(
        f"Re-encrypted {rotated} of {total} connection(s) and {sealed} of {variables} "
        f"variable(s) with key {cipher.primary_key_id}."
    )
