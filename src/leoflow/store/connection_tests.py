"""Connection tests enqueued through the API, polled by their token.

A row records one test's progress (``pending`` → ``running`` → ``success``/``failed``) and its
outcome message; never the tested credentials. At most one test per connection id and tenant
is active at a time (a partial unique index), as in Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from leoflow.store.pool import Database, acquire

COLUMNS = (
    "id, tenant_id, token, connection_id, state, result_message, commit_on_success, "
    "requested_by, created_at, updated_at"
)
ACTIVE_STATES = frozenset({"pending", "running"})
TERMINAL_STATES = frozenset({"success", "failed"})


class ActiveTestExistsError(ValueError):
    """A test of that connection id is already pending or running in the tenant."""


@dataclass(frozen=True)
class ConnectionTestRow:
    """One enqueued test and how far it got."""

    id: UUID
    tenant_id: UUID
    token: str
    connection_id: str
    state: str
    result_message: str | None
    commit_on_success: bool
    requested_by: str | None
    created_at: datetime
    updated_at: datetime


async def enqueue(
    db: Database,
    tenant_id: UUID,
    token: str,
    connection_id: str,
    *,
    commit_on_success: bool = False,
    requested_by: str | None = None,
) -> ConnectionTestRow:
    """Record a new ``pending`` test; :class:`ActiveTestExistsError` if one is active."""
    try:
        async with acquire(db) as conn:
            cur = conn.cursor(row_factory=class_row(ConnectionTestRow))
            await cur.execute(
                f"""
                INSERT INTO connection_tests (tenant_id, token, connection_id,
                                              commit_on_success, requested_by)
                VALUES (%s, %s, %s, %s, %s)
                RETURNING {COLUMNS}
                """,
                (tenant_id, token, connection_id, commit_on_success, requested_by),
            )
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise ActiveTestExistsError(connection_id) from None
    assert row is not None
    return row


async def set_state(
    db: Database, test_id: UUID, state: str, result_message: str | None = None
) -> bool:
    """Move a test forward (never out of a finished state); whether it moved."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            UPDATE connection_tests SET state = %s, result_message = %s
            WHERE id = %s AND state NOT IN ('success', 'failed')
            """,
            (state, result_message, test_id),
        )
        return cur.rowcount > 0


async def get_by_token(db: Database, tenant_id: UUID, token: str) -> ConnectionTestRow | None:
    """The tenant's test with that token."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(ConnectionTestRow))
        await cur.execute(
            f"SELECT {COLUMNS} FROM connection_tests WHERE tenant_id = %s AND token = %s",
            (tenant_id, token),
        )
        return await cur.fetchone()


async def fail_abandoned(db: Database, older_than_seconds: float, message: str) -> int:
    """Fail active tests left behind by a process that stopped while running them."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            UPDATE connection_tests SET state = 'failed', result_message = %s
            WHERE state IN ('pending', 'running')
              AND updated_at < now() - make_interval(secs => %s)
            """,
            (message, older_than_seconds),
        )
        return cur.rowcount
