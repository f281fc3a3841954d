"""Password hashing with bcrypt (cost 12), run off the event loop.

A cost-12 hash takes a few hundred milliseconds of CPU on purpose; doing it inline would stall
every other request of the process, so the async helpers use a worker thread.
"""

from __future__ import annotations

import asyncio
import secrets

import bcrypt

BCRYPT_ROUNDS = 12
MAX_PASSWORD_BYTES = 72
"""bcrypt only reads 72 bytes; longer passwords are refused rather than silently truncated."""

_DUMMY_HASH = bcrypt.hashpw(b"leoflow-no-such-user", bcrypt.gensalt(BCRYPT_ROUNDS))
"""Checked against when the user does not exist, so timing does not reveal valid usernames."""


class PasswordPolicyError(ValueError):
    """The password cannot be used; the message says why."""


def check_password_policy(password: str) -> None:
    """Refuse passwords bcrypt cannot hash faithfully, or that are trivially short."""
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise PasswordPolicyError(f"password is longer than {MAX_PASSWORD_BYTES} bytes")
    if len(password) < 8:
        raise PasswordPolicyError("password must be at least 8 characters long")


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash of ``password`` (text, ``$2b$12$…``).

    Only what bcrypt cannot do faithfully is refused here; the minimum length is the policy of
    commands that take a new password from a person (:func:`check_password_policy`).
    """
    if not password:
        raise PasswordPolicyError("password must not be empty")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise PasswordPolicyError(f"password is longer than {MAX_PASSWORD_BYTES} bytes")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches; a missing hash still costs one bcrypt check."""
    candidate = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
    if not password_hash:
        bcrypt.checkpw(candidate, _DUMMY_HASH)
        return False
    try:
        return bcrypt.checkpw(candidate, password_hash.encode("ascii"))
    except ValueError:
        return False


async def hash_password_async(password: str) -> str:
    """:func:`hash_password` in a worker thread."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    """:func:`verify_password` in a worker thread."""
    return await asyncio.to_thread(verify_password, password, password_hash)


def generate_password(length: int = 20) -> str:
    """A random password for a bootstrap account (URL-safe characters)."""
    return secrets.token_urlsafe(length)[:length]
