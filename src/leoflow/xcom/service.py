"""The XCom service: the policy in front of a backend, with metrics, used by every writer.

The agent service (values pushed by agents) and the inline HTTP executor (response bodies)
both store through here, so a value is checked the same way whoever produced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leoflow.telemetry import get_logger
from leoflow.telemetry.metrics import (
    XCOM_EXPIRED_SWEPT,
    XCOM_PULLS,
    XCOM_PUSHES,
    XCOM_REJECTIONS,
    XCOM_SIZE,
)
from leoflow.xcom.backend import RunScope, StoredXCom, XComAddress, XComBackend
from leoflow.xcom.policy import JSON_CONTENT_TYPE, XComPolicy, XComRejected

log = get_logger(__name__)


class XComService:
    """Checks, stores and reads XCom values of task instances."""

    def __init__(self, backend: XComBackend, policy: XComPolicy | None = None) -> None:
        self.backend = backend
        self.policy = policy or XComPolicy()

    def _rejected(self, exc: XComRejected) -> XComRejected:
        XCOM_REJECTIONS.labels(exc.reason.value).inc()
        return exc

    async def push(
        self,
        address: XComAddress,
        value: bytes,
        content_type: str = JSON_CONTENT_TYPE,
        *,
        declared_size: int | None = None,
        schema: Mapping[str, Any] | None = None,
        dag_ttl_seconds: int | None = None,
    ) -> StoredXCom:
        """Validate and store one value; :class:`XComRejected` says why not."""
        try:
            self.policy.check_push(
                address.key,
                value,
                content_type,
                declared_size=declared_size,
                schema=schema,
            )
        except XComRejected as exc:
            raise self._rejected(exc) from None
        key = self.policy.check_key(address.key)
        ttl = self.policy.ttl_seconds(dag_ttl_seconds)
        content_type = content_type or JSON_CONTENT_TYPE
        effective = XComAddress(address.scope, address.task_id, key, address.map_index)
        await self.backend.put(effective, value, content_type, ttl)
        XCOM_PUSHES.labels(self.backend.name).inc()
        XCOM_SIZE.labels("push").observe(len(value))
        now = datetime.now(UTC)
        return StoredXCom(
            task_id=address.task_id,
            key=key,
            map_index=address.map_index,
            value=value,
            content_type=content_type,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )

    async def push_json(
        self,
        address: XComAddress,
        value: Any,
        *,
        schema: Mapping[str, Any] | None = None,
        dag_ttl_seconds: int | None = None,
    ) -> StoredXCom:
        """Serialize ``value`` as JSON and push it (control-plane producers)."""
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        return await self.push(address, data, schema=schema, dag_ttl_seconds=dag_ttl_seconds)

    async def pull(self, address: XComAddress) -> StoredXCom | None:
        """The live value at ``address`` (``None`` when it was never pushed or expired)."""
        key = address.key or self.policy.check_key("")
        stored = await self.backend.get(
            XComAddress(address.scope, address.task_id, key, address.map_index)
        )
        XCOM_PULLS.labels(self.backend.name, "true" if stored else "false").inc()
        if stored is not None:
            XCOM_SIZE.labels("pull").observe(stored.size)
        return stored

    async def check_fan_in(self, param: str, addresses: Sequence[XComAddress]) -> int:
        """Refuse (``too_large``) a fan-in input whose assembled array exceeds the limit."""
        sizes = await self.backend.sizes(list(addresses))
        try:
            return self.policy.check_fan_in(param, sizes)
        except XComRejected as exc:
            raise self._rejected(exc) from None

    async def delete(self, address: XComAddress) -> bool:
        """Forget one value (an operator's delete); whether a live value was there."""
        key = self.policy.check_key(address.key)
        return await self.backend.delete(
            XComAddress(address.scope, address.task_id, key, address.map_index)
        )

    async def clear_task(self, scope: RunScope, task_id: str, map_index: int = -1) -> int:
        """Forget a task instance's values (its new try starts clean, as in Airflow)."""
        return await self.backend.delete_task(scope, task_id, map_index)

    async def list_run(self, scope: RunScope) -> list[StoredXCom]:
        """Every live value of a run (the XCom API reads this)."""
        return await self.backend.list_run(scope)

    async def sweep_forever(self, interval_seconds: float) -> None:
        """Delete expired values every ``interval_seconds`` until cancelled."""
        while True:
            try:
                removed = await self.backend.sweep_expired()
                if removed:
                    XCOM_EXPIRED_SWEPT.inc(removed)
                    log.info("expired xcoms swept", removed=removed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next sweep tries again
                log.warning("xcom sweep failed", error=str(exc))
            await asyncio.sleep(interval_seconds)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.backend.close()
