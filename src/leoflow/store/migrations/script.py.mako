"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}

Write the change as raw SQL (one statement per ``op.execute``); keep state values as literals.
Every new foreign key column needs an index whose leading columns are the foreign key
(``tests/store/test_schema_catalog.py`` fails otherwise).
"""

from __future__ import annotations

from alembic import op

revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | None = ${repr(branch_labels)}
depends_on: str | None = ${repr(depends_on)}

UPGRADE: tuple[str, ...] = (
    ${upgrades if upgrades else ""}
)

DOWNGRADE: tuple[str, ...] = (
    ${downgrades if downgrades else ""}
)


def upgrade() -> None:
    """Apply this revision."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Revert this revision."""
    for statement in DOWNGRADE:
        op.execute(statement)
