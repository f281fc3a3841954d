"""Roles and permissions: per-tenant roles granting ``resource:action`` permissions.

Permission names are stored as ``(action, resource)`` rows and handed out as the
``"resource:action"`` strings the API checks (``"dags:read"``). Which permissions each built-in
role holds is decided by :mod:`leoflow.auth.rbac`; this module only stores and reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from leoflow.store.pool import Database, acquire


class RoleNotFoundError(LookupError):
    """No role of that name exists in the tenant."""


@dataclass(frozen=True)
class UserAccess:
    """What one user may do in one tenant: the input of every authorization decision."""

    user_id: UUID
    username: str
    is_active: bool
    tenant_id: UUID
    tenant: str
    roles: frozenset[str]
    permissions: frozenset[str]


@dataclass(frozen=True)
class Role:
    """A role of a tenant and the permissions it grants."""

    name: str
    description: str | None
    permissions: frozenset[str]


def _split(permission: str) -> tuple[str, str]:
    resource, _, action = permission.partition(":")
    if not resource or not action:
        raise ValueError(f"permission {permission!r} is not of the form 'resource:action'")
    return action, resource


async def ensure_roles(
    db: Database,
    tenant_id: UUID,
    roles: Mapping[str, Iterable[str]],
    descriptions: Mapping[str, str] | None = None,
) -> None:
    """Create missing roles and grant missing permissions (never revokes anything).

    Idempotent: run at every start so a tenant created after the migration, or a permission
    added to a built-in role by a newer Leoflow, is in place before the first request.
    """
    descriptions = descriptions or {}
    async with acquire(db) as conn:
        for name, permissions in roles.items():
            await conn.execute(
                """
                INSERT INTO roles (tenant_id, name, description) VALUES (%s, %s, %s)
                ON CONFLICT (tenant_id, name) DO NOTHING
                """,
                (tenant_id, name, descriptions.get(name)),
            )
            for permission in permissions:
                action, resource = _split(permission)
                await conn.execute(
                    """
                    INSERT INTO permissions (action, resource) VALUES (%s, %s)
                    ON CONFLICT (action, resource) DO NOTHING
                    """,
                    (action, resource),
                )
                await conn.execute(
                    """
                    INSERT INTO role_permissions (role_id, permission_id)
                    SELECT r.id, p.id FROM roles r, permissions p
                    WHERE r.tenant_id = %s AND r.name = %s
                      AND p.action = %s AND p.resource = %s
                    ON CONFLICT DO NOTHING
                    """,
                    (tenant_id, name, action, resource),
                )


async def list_roles(db: Database, tenant_id: UUID) -> list[Role]:
    """The roles of a tenant with their permissions, by name."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT r.name, r.description,
                   coalesce(array_agg(p.resource || ':' || p.action)
                            FILTER (WHERE p.id IS NOT NULL), '{}')
            FROM roles r
            LEFT JOIN role_permissions rp ON rp.role_id = r.id
            LEFT JOIN permissions p ON p.id = rp.permission_id
            WHERE r.tenant_id = %s
            GROUP BY r.id
            ORDER BY r.name
            """,
            (tenant_id,),
        )
        rows = await cur.fetchall()
    return [Role(name, description, frozenset(perms)) for name, description, perms in rows]


async def set_user_roles(
    db: Database, user_id: UUID, tenant_id: UUID, role_names: Iterable[str]
) -> None:
    """Make ``role_names`` exactly the user's roles in the tenant."""
    names = sorted(set(role_names))
    async with acquire(db) as conn:
        cur = await conn.execute(
            "SELECT name, id FROM roles WHERE tenant_id = %s AND name = ANY(%s)",
            (tenant_id, names),
        )
        found = dict(await cur.fetchall())
        missing = [n for n in names if n not in found]
        if missing:
            raise RoleNotFoundError(f"no role named {', '.join(map(repr, missing))} in the tenant")
        await conn.execute(
            """
            DELETE FROM user_roles
            WHERE user_id = %s AND role_id IN (SELECT id FROM roles WHERE tenant_id = %s)
            """,
            (user_id, tenant_id),
        )
        for name in names:
            await conn.execute(
                "INSERT INTO user_roles (user_id, role_id) VALUES (%s, %s)",
                (user_id, found[name]),
            )


async def user_tenants(db: Database, user_id: UUID) -> list[str]:
    """Names of the tenants where the user holds at least one role, by name."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT DISTINCT t.name FROM user_roles ur
            JOIN roles r ON r.id = ur.role_id
            JOIN tenants t ON t.id = r.tenant_id
            WHERE ur.user_id = %s ORDER BY t.name
            """,
            (user_id,),
        )
        return [row[0] for row in await cur.fetchall()]


async def load_user_access(db: Database, username: str, tenant: str) -> UserAccess | None:
    """The user's roles and permissions in ``tenant``; ``None`` if user or tenant is unknown."""
    async with acquire(db) as conn:
        cur = await conn.execute(
            """
            SELECT u.id, u.username, u.is_active, t.id, t.name,
                   coalesce((
                       SELECT array_agg(r.name) FROM user_roles ur
                       JOIN roles r ON r.id = ur.role_id
                       WHERE ur.user_id = u.id AND r.tenant_id = t.id
                   ), '{}'),
                   coalesce((
                       SELECT array_agg(DISTINCT p.resource || ':' || p.action)
                       FROM user_roles ur
                       JOIN roles r ON r.id = ur.role_id
                       JOIN role_permissions rp ON rp.role_id = r.id
                       JOIN permissions p ON p.id = rp.permission_id
                       WHERE ur.user_id = u.id AND r.tenant_id = t.id
                   ), '{}')
            FROM users u, tenants t
            WHERE u.username = %s AND t.name = %s
            """,
            (username, tenant),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    user_id, name, active, tenant_id, tenant_name, roles, permissions = row
    return UserAccess(
        user_id=user_id,
        username=name,
        is_active=active,
        tenant_id=tenant_id,
        tenant=tenant_name,
        roles=frozenset(roles),
        permissions=frozenset(permissions),
    )
