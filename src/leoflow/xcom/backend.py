"""The storage contract every XCom backend honours (Postgres in Lite, Redis in Pro).

A backend stores opaque bytes under an address and forgets them after their TTL; it knows
nothing about sizes, schemas or tries (that is the policy's and the service's job). The same
contract test module runs against both implementations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

UNMAPPED = -1


@dataclass(frozen=True, slots=True)
class RunScope:
    """The run an XCom belongs to; tenant and dag_id name it for backends keyed by text."""

    tenant: str
    dag_id: str
    run_uuid: UUID


@dataclass(frozen=True, slots=True)
class XComAddress:
    """One XCom: a key pushed by one task (instance) of one run."""

    scope: RunScope
    task_id: str
    key: str
    map_index: int = UNMAPPED


@dataclass(frozen=True, slots=True)
class StoredXCom:
    """A value as stored: bytes exactly as pushed, their serialization and lifetime."""

    task_id: str
    key: str
    map_index: int
    value: bytes
    content_type: str
    created_at: datetime
    expires_at: datetime | None

    @property
    def size(self) -> int:
        return len(self.value)


class XComBackend(Protocol):
    """Store, fetch and forget XCom values."""

    name: str
    """``postgres`` or ``redis`` (a metric label)."""

    async def put(
        self, address: XComAddress, value: bytes, content_type: str, ttl_seconds: int
    ) -> None:
        """Store (or replace) the value at ``address``; it expires after ``ttl_seconds``."""

    async def get(self, address: XComAddress) -> StoredXCom | None:
        """The live value at ``address`` (``None`` when absent or expired)."""

    async def sizes(self, addresses: list[XComAddress]) -> list[int | None]:
        """The stored size of each address (``None`` when absent), without reading values."""

    async def list_run(self, scope: RunScope) -> list[StoredXCom]:
        """Every live value of a run, by task, map index and key."""

    async def delete(self, address: XComAddress) -> bool:
        """Forget the value at ``address``; whether a live value was there."""

    async def delete_task(self, scope: RunScope, task_id: str, map_index: int = UNMAPPED) -> int:
        """Forget everything one task instance pushed (a new try starts clean)."""

    async def delete_run(self, scope: RunScope) -> int:
        """Forget everything a run's tasks pushed."""

    async def sweep_expired(self) -> int:
        """Remove what has expired and is still held; the number removed."""

    async def close(self) -> None:
        """Release connections."""
