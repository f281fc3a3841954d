"""The authenticated caller of one request, as every authorization decision sees it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Principal:
    """Who is calling, in which tenant, and what they may do there.

    ``tenant_id`` scopes every query a route makes; ``permissions`` are the ``resource:action``
    strings of :class:`~leoflow.auth.rbac.Permission`.
    """

    user_id: UUID
    username: str
    tenant_id: UUID
    tenant: str
    roles: frozenset[str]
    permissions: frozenset[str]

    def can(self, permission: str) -> bool:
        """Whether the caller holds ``permission``."""
        return str(permission) in self.permissions
