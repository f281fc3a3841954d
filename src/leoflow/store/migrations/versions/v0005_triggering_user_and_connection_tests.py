"""Who triggered a run, and connection tests enqueued through the API.

Revision ID: 0005
Revises: 0004

Written as raw SQL, frozen in time like the earlier revisions.

* ``dag_runs.triggering_user_name``: Airflow's ``DAGRunResponse`` names the user who triggered a
  manual run; runs created by the scheduler (and runs older than this revision) have none.
* ``connection_tests``: ``POST /connections/enqueue-test`` answers at once with a token and runs
  the test in the background; ``GET /connections/enqueue-test`` polls the row by that token
  (from any replica). Only the outcome is stored, never the tested credentials. At most one
  active (``pending``/``running``) test per connection id and tenant, as in Airflow.
"""

from __future__ import annotations

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE: tuple[str, ...] = (
    "ALTER TABLE dag_runs ADD COLUMN triggering_user_name text",
    """
    CREATE TABLE connection_tests (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants (id),
        token text NOT NULL UNIQUE CHECK (token <> ''),
        connection_id text NOT NULL CHECK (connection_id <> ''),
        state text NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'running', 'success', 'failed')),
        result_message text,
        commit_on_success boolean NOT NULL DEFAULT false,
        requested_by text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX connection_tests_tenant_created_idx ON connection_tests (tenant_id, created_at)",
    """
    CREATE UNIQUE INDEX connection_tests_one_active_idx ON connection_tests
        (tenant_id, connection_id) WHERE state IN ('pending', 'running')
    """,
    """
    CREATE TRIGGER connection_tests_set_updated_at BEFORE UPDATE ON connection_tests
        FOR EACH ROW EXECUTE FUNCTION leoflow_set_updated_at()
    """,
)
"""Statements of the upgrade, one per ``op.execute``."""

DOWNGRADE: tuple[str, ...] = (
    "DROP TABLE IF EXISTS connection_tests",
    "ALTER TABLE dag_runs DROP COLUMN IF EXISTS triggering_user_name",
)


def upgrade() -> None:
    """Add the triggering user column and the connection test table."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Remove what the upgrade added."""
    for statement in DOWNGRADE:
        op.execute(statement)
