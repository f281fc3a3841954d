"""Revoked token ids (``jti``): a logout must end a token before its expiry.

A row is only useful until the token would have expired anyway, so rows past ``expires_at`` can
be purged at any time without reopening anything.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from leoflow.store.pool import Database, acquire


async def revoke(
    db: Database, jti: str, *, expires_at: datetime, user_id: UUID | None = None
) -> None:
    """Mark ``jti`` revoked (idempotent)."""
    async with acquire(db) as conn:
        await conn.execute(
            """
            INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES (%s, %s, %s)
            ON CONFLICT (jti) DO NOTHING
            """,
            (jti, user_id, expires_at),
        )


async def is_revoked(db: Database, jti: str) -> bool:
    """Whether ``jti`` was revoked."""
    async with acquire(db) as conn:
        cur = await conn.execute("SELECT 1 FROM revoked_tokens WHERE jti = %s", (jti,))
        return await cur.fetchone() is not None


async def purge_expired(db: Database, now: datetime | None = None) -> int:
    """Delete rows of tokens that have expired by now; returns how many."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            "DELETE FROM revoked_tokens WHERE expires_at < coalesce(%s, now())", (now,)
        )
        return cur.rowcount
