"""API read models: numeric import-error ids, import errors per DAG, indexes for hot filters.

Revision ID: 0003
Revises: 0002

Written as raw SQL, frozen in time like the earlier revisions.

* ``import_errors.import_error_id``: Airflow's API names import errors by an integer, so each
  row gets one from an identity sequence (existing rows are numbered when the column is added).
* ``import_errors.dag_id``: the Lite watcher knows which DAG a failing file defines; with it a
  DAG reports ``has_import_errors`` and refuses to be triggered while its source is broken.
* Indexes for what the Airflow UI asks on every refresh: runs of every DAG ordered by
  ``run_after``, task instances filtered by state (failed ones, across runs), DAGs by owner.
"""

from __future__ import annotations

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE: tuple[str, ...] = (
    "ALTER TABLE import_errors ADD COLUMN import_error_id bigint GENERATED ALWAYS AS IDENTITY",
    "ALTER TABLE import_errors ADD CONSTRAINT import_errors_import_error_id_key "
    "UNIQUE (import_error_id)",
    "ALTER TABLE import_errors ADD COLUMN dag_id text",
    """
    CREATE INDEX import_errors_tenant_dag_idx ON import_errors (tenant_id, dag_id)
        WHERE dag_id IS NOT NULL
    """,
    "CREATE INDEX dag_runs_run_after_idx ON dag_runs (run_after DESC)",
    "CREATE INDEX task_instances_state_idx ON task_instances (state)",
    "CREATE INDEX dags_owners_idx ON dags USING gin (owners)",
)
"""Statements of the upgrade, one per ``op.execute``."""

DOWNGRADE: tuple[str, ...] = (
    "DROP INDEX IF EXISTS dags_owners_idx",
    "DROP INDEX IF EXISTS task_instances_state_idx",
    "DROP INDEX IF EXISTS dag_runs_run_after_idx",
    "DROP INDEX IF EXISTS import_errors_tenant_dag_idx",
    "ALTER TABLE import_errors DROP COLUMN IF EXISTS dag_id",
    "ALTER TABLE import_errors DROP CONSTRAINT IF EXISTS import_errors_import_error_id_key",
    "ALTER TABLE import_errors DROP COLUMN IF EXISTS import_error_id",
)


def upgrade() -> None:
    """Add the import-error columns and the read-model indexes."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Remove what the upgrade added."""
    for statement in DOWNGRADE:
        op.execute(statement)
