"""Roles and permissions: Airflow's simple-auth ladder Viewer < User < Op < Admin.

Each role includes everything of the role below it. The split follows Airflow so that people
moving from Airflow find the same rights under the same names: DAG reads (runs, task
instances, logs, XCom, audit) for Viewer; pausing, triggering, clearing and marking for User;
variables, connections, pools and assets for Op (even for reading: they hold credentials);
users and roles for Admin.

The migration ``0002`` seeds the same map as frozen literals; a test keeps the two equal.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """A right an API route can require; stored as ``(action, resource)`` rows."""

    DAGS_READ = "dags:read"
    DAGS_EDIT = "dags:edit"
    """Pause, unpause, delete a DAG."""
    RUNS_TRIGGER = "runs:trigger"
    RUNS_EDIT = "runs:edit"
    """Clear, mark, delete runs and task instances; edit notes; write XCom entries (Airflow
    gives XCom writes to the same role, User)."""
    XCOM_READ = "xcom:read"
    LOGS_READ = "logs:read"
    VARIABLES_READ = "variables:read"
    VARIABLES_EDIT = "variables:edit"
    CONNECTIONS_READ = "connections:read"
    CONNECTIONS_EDIT = "connections:edit"
    AUDIT_READ = "audit:read"
    USERS_READ = "users:read"
    USERS_EDIT = "users:edit"
    DAG_VERSIONS_PUSH = "dag_versions:push"
    """Register a compiled dag.json."""
    CONFIG_READ = "config:read"
    POOLS_READ = "pools:read"
    POOLS_EDIT = "pools:edit"
    ASSETS_READ = "assets:read"
    ASSETS_EDIT = "assets:edit"


VIEWER = "Viewer"
USER = "User"
OP = "Op"
ADMIN = "Admin"
ROLE_ORDER: tuple[str, ...] = (VIEWER, USER, OP, ADMIN)

_VIEWER = frozenset(
    {
        Permission.DAGS_READ,
        Permission.XCOM_READ,
        Permission.LOGS_READ,
        Permission.AUDIT_READ,
        Permission.CONFIG_READ,
        Permission.POOLS_READ,
        Permission.ASSETS_READ,
    }
)
_USER = _VIEWER | {Permission.DAGS_EDIT, Permission.RUNS_TRIGGER, Permission.RUNS_EDIT}
_OP = _USER | {
    Permission.VARIABLES_READ,
    Permission.VARIABLES_EDIT,
    Permission.CONNECTIONS_READ,
    Permission.CONNECTIONS_EDIT,
    Permission.POOLS_EDIT,
    Permission.ASSETS_EDIT,
    Permission.DAG_VERSIONS_PUSH,
}
_ADMIN = _OP | {Permission.USERS_READ, Permission.USERS_EDIT}

BUILTIN_ROLES: dict[str, frozenset[str]] = {
    VIEWER: frozenset(str(p) for p in _VIEWER),
    USER: frozenset(str(p) for p in _USER),
    OP: frozenset(str(p) for p in _OP),
    ADMIN: frozenset(str(p) for p in _ADMIN),
}

ROLE_DESCRIPTIONS: dict[str, str] = {
    VIEWER: "Read DAGs, runs, task instances, logs, XCom and the audit log",
    USER: "Viewer, plus pause, trigger, clear and mark runs and task instances",
    OP: "User, plus variables, connections, pools, assets and DAG version pushes",
    ADMIN: "Op, plus users and roles",
}


def normalize_role(name: str) -> str:
    """The built-in role spelled ``name`` in any case (``admin`` → ``Admin``), else ``name``."""
    for role in ROLE_ORDER:
        if role.lower() == name.strip().lower():
            return role
    return name.strip()
