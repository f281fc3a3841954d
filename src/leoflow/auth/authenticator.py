"""Who a set of credentials belongs to. Routes never check passwords themselves: they ask an
:class:`Authenticator`, so OIDC (or LDAP) can be added without touching them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from leoflow.auth.passwords import verify_password_async
from leoflow.store import users
from leoflow.store.pool import Database


@dataclass(frozen=True)
class Identity:
    """A person the authenticator vouches for."""

    user_id: UUID
    username: str


@dataclass(frozen=True)
class Rejection:
    """Why credentials were refused (for metrics and the audit log, never for the caller)."""

    reason: str


class Authenticator(Protocol):
    """Turns credentials into an :class:`Identity`, or says why not."""

    name: str

    async def authenticate(self, username: str, password: str) -> Identity | Rejection:
        """The identity behind the credentials, or the reason they are refused."""
        ...


class PasswordAuthenticator:
    """Checks a username and password against the bcrypt hashes of the ``users`` table."""

    name = "password"

    def __init__(self, db: Database) -> None:
        self._db = db

    async def authenticate(self, username: str, password: str) -> Identity | Rejection:
        user = await users.get_user_by_username(self._db, username)
        # Always run one bcrypt check, so an unknown username takes as long as a wrong password.
        matches = await verify_password_async(password, user.password_hash if user else None)
        if user is None:
            return Rejection("unknown_user")
        if not matches:
            return Rejection("bad_password")
        if not user.is_active:
            return Rejection("inactive_user")
        return Identity(user_id=user.id, username=user.username)
