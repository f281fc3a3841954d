"""Staging volumes: why a volume was deleted, and where it lives.

Revision ID: 0004
Revises: 0003

Written as raw SQL, frozen in time like the earlier revisions.

* ``staging_volumes.deleted_reason``: the lifecycle is ``active → deleted`` and operators ask
  "why is my run's staging data gone?" (run succeeded, failed-run retention elapsed, orphaned).
* ``staging_volumes.kind``: ``pvc`` in Pro (a PersistentVolumeClaim per run), ``directory`` in
  Lite (a per-run folder); ``pvc_name`` holds the claim's or the folder's name.
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE: tuple[str, ...] = (
    "ALTER TABLE staging_volumes ADD COLUMN deleted_reason text",
    "ALTER TABLE staging_volumes ADD COLUMN kind text NOT NULL DEFAULT 'pvc' "
    "CHECK (kind IN ('pvc', 'directory'))",
)
"""Statements of the upgrade, one per ``op.execute``."""

DOWNGRADE: tuple[str, ...] = (
    "ALTER TABLE staging_volumes DROP COLUMN IF EXISTS kind",
    "ALTER TABLE staging_volumes DROP COLUMN IF EXISTS deleted_reason",
)


def upgrade() -> None:
    """Add the reason and kind columns."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Remove what the upgrade added."""
    for statement in DOWNGRADE:
        op.execute(statement)
