"""Indexes that keep the scheduler's per-task statements independent of a run's width.

Revision ID: 0006
Revises: 0005

Written as raw SQL, frozen in time like the earlier revisions.

* ``task_instances_dispatch_order_idx``: dispatch claims the oldest ``scheduled`` task
  instances (``ORDER BY updated_at, id LIMIT n``); without an index in that order every claim
  sorted every scheduled row (a thousand at the start of a 1,000-task run, once per task).
* ``task_instances_run_unsettled_idx``: after a task of a wide run settles, the scheduler asks
  whether any *other* task instance of the run is still unsettled; this answers from the first
  index entry instead of walking the run's settled rows or other runs' unsettled ones.
"""

from __future__ import annotations

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE: tuple[str, ...] = (
    """
    CREATE INDEX task_instances_dispatch_order_idx ON task_instances (updated_at, id)
        WHERE state = 'scheduled'
    """,
    """
    CREATE INDEX task_instances_run_unsettled_idx ON task_instances (run_uuid)
        WHERE state IN ('none', 'scheduled', 'queued', 'running', 'deferred', 'up_for_retry')
    """,
)
"""Statements of the upgrade, one per ``op.execute``."""

DOWNGRADE: tuple[str, ...] = (
    "DROP INDEX IF EXISTS task_instances_run_unsettled_idx",
    "DROP INDEX IF EXISTS task_instances_dispatch_order_idx",
)


def upgrade() -> None:
    """Create the two partial indexes."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Drop them."""
    for statement in DOWNGRADE:
        op.execute(statement)
