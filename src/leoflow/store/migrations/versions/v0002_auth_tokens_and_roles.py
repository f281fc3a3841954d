"""Auth: revoked token ids, Airflow's built-in roles and permissions, richer audit rows.

Revision ID: 0002
Revises: 0001

Written as raw SQL, frozen in time like 0001: the role → permission map below is a literal,
not imported from ``leoflow.auth.rbac``, so a later change of the code map is a new revision
(and a test compares the two). Roles are per tenant, so they are seeded for every tenant that
exists when this runs; tenants created later get them from ``store.roles.ensure_builtin_roles``.

* ``revoked_tokens`` holds the ``jti`` of every user token revoked before its expiry (logout);
  rows past ``expires_at`` are useless and may be purged (index on ``expires_at``).
* ``audit_log`` gains the columns of Airflow's event log (``map_index``, ``try_number``,
  ``logical_date``) and an index for the per-DAG audit tab.
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_VIEWER = (
    "dags:read",
    "xcom:read",
    "logs:read",
    "audit:read",
    "config:read",
    "pools:read",
    "assets:read",
)
_USER = (*_VIEWER, "dags:edit", "runs:trigger", "runs:edit")
_OP = (
    *_USER,
    "variables:read",
    "variables:edit",
    "connections:read",
    "connections:edit",
    "pools:edit",
    "assets:edit",
    "dag_versions:push",
)
_ADMIN = (*_OP, "users:read", "users:edit")

BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    "Viewer": _VIEWER,
    "User": _USER,
    "Op": _OP,
    "Admin": _ADMIN,
}
"""Airflow's simple-auth ladder: Viewer < User < Op < Admin, each including the previous."""

_DESCRIPTIONS = {
    "Viewer": "Read DAGs, runs, task instances, logs, XCom and the audit log",
    "User": "Viewer, plus pause, trigger, clear and mark runs and task instances",
    "Op": "User, plus variables, connections, pools, assets and DAG version pushes",
    "Admin": "Op, plus users and roles",
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _seed_statements() -> tuple[str, ...]:
    actions = sorted({p for perms in BUILTIN_ROLES.values() for p in perms})
    permission_rows = ", ".join(
        f"({_quote(p.split(':')[1])}, {_quote(p.split(':')[0])})" for p in actions
    )
    role_rows = ", ".join(
        f"({_quote(name)}, {_quote(_DESCRIPTIONS[name])})" for name in BUILTIN_ROLES
    )
    grant_rows = ", ".join(
        f"({_quote(role)}, {_quote(p.split(':')[1])}, {_quote(p.split(':')[0])})"
        for role, perms in BUILTIN_ROLES.items()
        for p in perms
    )
    return (
        f"""
        INSERT INTO permissions (action, resource) VALUES {permission_rows}
        ON CONFLICT (action, resource) DO NOTHING
        """,
        f"""
        INSERT INTO roles (tenant_id, name, description)
        SELECT t.id, r.name, r.description
        FROM tenants t CROSS JOIN (VALUES {role_rows}) AS r (name, description)
        ON CONFLICT (tenant_id, name) DO NOTHING
        """,
        f"""
        INSERT INTO role_permissions (role_id, permission_id)
        SELECT r.id, p.id
        FROM (VALUES {grant_rows}) AS g (role_name, action, resource)
        JOIN roles r ON r.name = g.role_name
        JOIN permissions p ON p.action = g.action AND p.resource = g.resource
        ON CONFLICT DO NOTHING
        """,
    )


UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE revoked_tokens (
        jti text PRIMARY KEY CHECK (jti <> ''),
        user_id uuid REFERENCES users (id) ON DELETE CASCADE,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX revoked_tokens_user_idx ON revoked_tokens (user_id)",
    "CREATE INDEX revoked_tokens_expires_idx ON revoked_tokens (expires_at)",
    "ALTER TABLE audit_log ADD COLUMN map_index integer",
    "ALTER TABLE audit_log ADD COLUMN try_number integer",
    "ALTER TABLE audit_log ADD COLUMN logical_date timestamptz",
    """
    CREATE INDEX audit_log_tenant_dag_idx ON audit_log (tenant_id, dag_id, created_at DESC)
        WHERE dag_id IS NOT NULL
    """,
    *_seed_statements(),
)
"""Statements of the upgrade, one per ``op.execute``."""

DOWNGRADE: tuple[str, ...] = (
    "DELETE FROM role_permissions",
    "DELETE FROM user_roles WHERE role_id IN (SELECT id FROM roles WHERE name IN "
    "('Viewer', 'User', 'Op', 'Admin'))",
    "DELETE FROM roles WHERE name IN ('Viewer', 'User', 'Op', 'Admin')",
    "DELETE FROM permissions",
    "DROP INDEX IF EXISTS audit_log_tenant_dag_idx",
    "ALTER TABLE audit_log DROP COLUMN IF EXISTS logical_date",
    "ALTER TABLE audit_log DROP COLUMN IF EXISTS try_number",
    "ALTER TABLE audit_log DROP COLUMN IF EXISTS map_index",
    "DROP TABLE IF EXISTS revoked_tokens",
)


def upgrade() -> None:
    """Add token revocation, seed the built-in roles, extend the audit log."""
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Remove what the upgrade added (role assignments to built-in roles are lost)."""
    for statement in DOWNGRADE:
        op.execute(statement)
