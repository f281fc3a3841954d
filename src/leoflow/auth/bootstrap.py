"""Start-up work of the auth layer: built-in roles in every tenant, the bootstrap admin, and
the signing secret when none is configured.

The bootstrap admin is created once: when the username already exists nothing is changed, so a
password changed after the first start (``leoflow users set-password``) is never reset by a
later start with the original ``LEOFLOW_ADMIN_PASSWORD`` still in the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from leoflow.auth.passwords import generate_password, hash_password_async
from leoflow.auth.rbac import ADMIN, BUILTIN_ROLES, ROLE_DESCRIPTIONS
from leoflow.config import Settings
from leoflow.secrets.cipher import generate_secret_key
from leoflow.store import revoked_tokens, roles, tenants, users
from leoflow.store.pool import Pool, acquire
from leoflow.telemetry.logging import get_logger

log = get_logger("leoflow.auth")


async def ensure_builtin_roles(db: Pool) -> None:
    """Make sure every tenant has the built-in roles with at least their built-in permissions."""
    async with acquire(db) as conn:
        cur = await conn.execute("SELECT id FROM tenants ORDER BY name")
        tenant_ids = [row[0] for row in await cur.fetchall()]
        for tenant_id in tenant_ids:
            await roles.ensure_roles(conn, tenant_id, BUILTIN_ROLES, ROLE_DESCRIPTIONS)


@dataclass(frozen=True)
class AdminBootstrap:
    """Outcome of :func:`ensure_admin`. ``generated_password`` is set only when this call
    created the account with a password it made up (to be shown once, never logged)."""

    username: str
    created: bool
    generated_password: str | None = None


async def ensure_admin(db: Pool, username: str, password: str | None) -> AdminBootstrap:
    """Create ``username`` as an Admin of the default tenant unless it already exists."""
    if await users.get_user_by_username(db, username) is not None:
        return AdminBootstrap(username=username, created=False)
    generated = None
    if password is None:
        generated = password = generate_password()
    password_hash = await hash_password_async(password)
    async with acquire(db) as conn, conn.transaction():
        try:
            user = await users.create_user(conn, username, password_hash=password_hash)
        except users.UserExistsError:  # another replica won the race
            return AdminBootstrap(username=username, created=False)
        tenant_id = await tenants.get_default_tenant_id(conn)
        await roles.set_user_roles(conn, user.id, tenant_id, [ADMIN])
    log.info("bootstrap admin created", user=username)
    return AdminBootstrap(username=username, created=True, generated_password=generated)


async def bootstrap_from_settings(db: Pool, settings: Settings) -> AdminBootstrap | None:
    """Built-in roles, then the admin named by ``LEOFLOW_ADMIN_*`` when a password is set.

    Also drops revocation rows of tokens that have expired anyway, so the table stays small.
    """
    await ensure_builtin_roles(db)
    await revoked_tokens.purge_expired(db)
    if settings.admin_password is None:
        return None
    username = settings.admin_username or "admin"
    return await ensure_admin(db, username, settings.admin_password.get_secret_value())


def persistent_secret(path: Path, factory: Callable[[], str] | None = None) -> str:
    """A random secret kept in ``path`` (created owner-only on first use), for Lite, where
    nobody configures one yet tokens and sealed values must survive restarts."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = factory() if factory else secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value


def ephemeral_jwt_secret() -> str:
    """A per-process signing secret, used (with a warning) when none is configured."""
    log.warning(
        "LEOFLOW_JWT_SECRET is not set: tokens are signed with a random per-process secret and "
        "stop working on restart and across replicas; set LEOFLOW_JWT_SECRET"
    )
    return secrets.token_urlsafe(48)


LITE_ADMIN = "admin"
JWT_SECRET_FILE = "jwt_secret"
SECRET_KEY_FILE = "secret_key"


def with_lite_secrets(settings: Settings) -> Settings:
    """``settings`` with a signing secret and a connection key kept under ``home`` when none
    is configured, so a Lite user's tokens and stored connections survive restarts."""
    home = Path(settings.home)
    updates: dict[str, SecretStr] = {}
    if settings.jwt_secret is None:
        updates["jwt_secret"] = SecretStr(persistent_secret(home / JWT_SECRET_FILE))
    if settings.secret_key is None:
        updates["secret_key"] = SecretStr(
            persistent_secret(home / SECRET_KEY_FILE, generate_secret_key)
        )
    return settings.model_copy(update=updates) if updates else settings


async def ensure_lite_admin(db: Pool, settings: Settings) -> AdminBootstrap:
    """Lite's one local admin (``admin`` unless ``LEOFLOW_ADMIN_USERNAME``): created with
    ``LEOFLOW_ADMIN_PASSWORD``, or with a generated password the caller shows once."""
    await ensure_builtin_roles(db)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    return await ensure_admin(db, settings.admin_username or LITE_ADMIN, password)
