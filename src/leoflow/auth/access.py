"""Per-request lookup of a user's roles and permissions, cached for a few seconds.

Tokens name the user and tenant but not their rights: rights are read from the database so a
role change or a disabled account takes effect within ``ttl`` seconds, without waiting for
tokens to expire, while a burst of UI polling costs one query per user every few seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from leoflow.store import roles
from leoflow.store.pool import Database
from leoflow.store.roles import UserAccess


class AccessCache:
    """Reads :class:`UserAccess` through a small TTL cache keyed by (username, tenant)."""

    def __init__(
        self,
        db: Database,
        *,
        ttl_seconds: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, UserAccess | None]] = OrderedDict()

    async def get(self, username: str, tenant: str) -> UserAccess | None:
        """The user's access in the tenant; ``None`` if either does not exist."""
        key = (username, tenant)
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        access = await roles.load_user_access(self._db, username, tenant)
        if self._ttl > 0:
            self._entries[key] = (now + self._ttl, access)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return access

    def invalidate(self, username: str | None = None) -> None:
        """Forget cached access of ``username`` (or of everyone)."""
        if username is None:
            self._entries.clear()
            return
        for key in [k for k in self._entries if k[0] == username]:
            del self._entries[key]
