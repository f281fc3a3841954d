"""Users: global identities (a username is unique across tenants); rights come from roles.

Only the bcrypt hash of a password is ever stored or read back here; hashing and checking
live in :mod:`leoflow.auth.passwords`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from leoflow.store.pool import Database, acquire

COLUMNS = (
    "id, username, email, first_name, last_name, password_hash, is_active, last_login_at, "
    "created_at, updated_at"
)


class UserExistsError(ValueError):
    """A user with that username already exists."""


@dataclass(frozen=True)
class User:
    """A user row. ``password_hash`` is ``None`` for users that log in elsewhere (OIDC)."""

    id: UUID
    username: str
    email: str | None
    first_name: str | None
    last_name: str | None
    password_hash: str | None
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


async def create_user(
    db: Database,
    username: str,
    *,
    password_hash: str | None,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> User:
    """Insert a new user; :class:`UserExistsError` if the username is taken."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(User))
        try:
            await cur.execute(
                f"""
                INSERT INTO users (username, password_hash, email, first_name, last_name)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (username) DO NOTHING
                RETURNING {COLUMNS}
                """,
                (username, password_hash, email, first_name, last_name),
            )
        except psycopg.errors.UniqueViolation as exc:  # pragma: no cover - ON CONFLICT covers it
            raise UserExistsError(f"user {username!r} already exists") from exc
        row = await cur.fetchone()
    if row is None:
        raise UserExistsError(f"user {username!r} already exists")
    return row


async def get_user_by_username(db: Database, username: str) -> User | None:
    """The user called ``username``, if any."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(User))
        await cur.execute(f"SELECT {COLUMNS} FROM users WHERE username = %s", (username,))
        return await cur.fetchone()


async def get_user(db: Database, user_id: UUID) -> User | None:
    """The user with id ``user_id``, if any."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(User))
        await cur.execute(f"SELECT {COLUMNS} FROM users WHERE id = %s", (user_id,))
        return await cur.fetchone()


async def list_users(db: Database) -> list[User]:
    """Every user, by username."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(User))
        await cur.execute(f"SELECT {COLUMNS} FROM users ORDER BY username")
        return await cur.fetchall()


async def set_password_hash(db: Database, user_id: UUID, password_hash: str) -> bool:
    """Replace the password hash; ``False`` when the user does not exist."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            "UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id)
        )
        return cur.rowcount == 1


async def set_active(db: Database, user_id: UUID, active: bool) -> bool:
    """Enable or disable logins (a disabled user's tokens stop working at once)."""
    async with acquire(db) as conn:
        cur = await conn.execute("UPDATE users SET is_active = %s WHERE id = %s", (active, user_id))
        return cur.rowcount == 1


async def record_login(db: Database, user_id: UUID) -> None:
    """Stamp the time of a successful login."""
    async with acquire(db) as conn:
        await conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user_id,))
