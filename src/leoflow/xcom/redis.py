"""XCom in Redis (Pro): native key TTL, keys readable by a person, one index per run.

Keys: ``xcom:{tenant}:{dag_id}:{run_uuid}:{task_id}:{key}`` (a mapped instance's task part is
``{task_id}#{map_index}``), each a hash of the value, its content type and creation time. The
per-run index ``xcom-index:{tenant}:{dag_id}:{run_uuid}`` is a set of JSON-encoded addresses,
so listing or deleting a run's XComs never needs ``SCAN``; index members whose value expired
are pruned when met. Redis ≥ 6 only: nothing here needs newer commands.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from leoflow.xcom.backend import UNMAPPED, RunScope, StoredXCom, XComAddress

_VALUE = b"value"
_CONTENT_TYPE = b"content_type"
_CREATED = b"created_at"


def _task_part(task_id: str, map_index: int) -> str:
    return task_id if map_index == UNMAPPED else f"{task_id}#{map_index}"


def value_key(address: XComAddress) -> str:
    """The Redis key holding one XCom."""
    s = address.scope
    task = _task_part(address.task_id, address.map_index)
    return f"xcom:{s.tenant}:{s.dag_id}:{s.run_uuid}:{task}:{address.key}"


def index_key(scope: RunScope) -> str:
    """The Redis set listing a run's XComs."""
    return f"xcom-index:{scope.tenant}:{scope.dag_id}:{scope.run_uuid}"


def _member(address: XComAddress) -> str:
    return json.dumps([address.task_id, address.map_index, address.key], separators=(",", ":"))


def _address(scope: RunScope, member: bytes | str) -> XComAddress:
    task_id, map_index, key = json.loads(member)
    return XComAddress(scope, str(task_id), str(key), int(map_index))


class RedisXComBackend:
    """XComs as Redis hashes with TTL, through one asyncio client."""

    name = "redis"

    def __init__(self, client: Redis) -> None:
        self._redis = client

    @classmethod
    def from_url(cls, url: str) -> RedisXComBackend:
        return cls(Redis.from_url(url, decode_responses=False))

    async def put(
        self, address: XComAddress, value: bytes, content_type: str, ttl_seconds: int
    ) -> None:
        key = value_key(address)
        index = index_key(address.scope)
        created = datetime.now(UTC).timestamp()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(
                key,
                mapping={_VALUE: value, _CONTENT_TYPE: content_type, _CREATED: repr(created)},
            )
            pipe.expire(key, ttl_seconds)
            pipe.sadd(index, _member(address))
            pipe.expire(index, ttl_seconds)
            await pipe.execute()

    def _stored(self, address: XComAddress, fields: list[Any], pttl: int) -> StoredXCom | None:
        value, content_type, created = fields
        if value is None:
            return None
        created_at = datetime.fromtimestamp(float(created or 0), UTC)
        expires_at = datetime.now(UTC) + timedelta(milliseconds=pttl) if pttl > 0 else None
        return StoredXCom(
            task_id=address.task_id,
            key=address.key,
            map_index=address.map_index,
            value=bytes(value),
            content_type=(content_type or b"application/json").decode(),
            created_at=created_at,
            expires_at=expires_at,
        )

    async def get(self, address: XComAddress) -> StoredXCom | None:
        key = value_key(address)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(key, [_VALUE, _CONTENT_TYPE, _CREATED])
            pipe.pttl(key)
            fields, pttl = await pipe.execute()
        return self._stored(address, fields, int(pttl))

    async def sizes(self, addresses: list[XComAddress]) -> list[int | None]:
        if not addresses:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for address in addresses:
                pipe.exists(value_key(address))
                pipe.hstrlen(value_key(address), "value")
            answers = await pipe.execute()
        return [
            int(length) if exists else None
            for exists, length in zip(answers[::2], answers[1::2], strict=True)
        ]

    async def _members(self, scope: RunScope) -> list[XComAddress]:
        members = await self._redis.smembers(index_key(scope))  # type: ignore[misc]
        return [_address(scope, m) for m in members]

    async def list_run(self, scope: RunScope) -> list[StoredXCom]:
        addresses = await self._members(scope)
        if not addresses:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for address in addresses:
                pipe.hmget(value_key(address), [_VALUE, _CONTENT_TYPE, _CREATED])
                pipe.pttl(value_key(address))
            answers = await pipe.execute()
        found: list[StoredXCom] = []
        gone: list[str] = []
        for address, fields, pttl in zip(addresses, answers[::2], answers[1::2], strict=True):
            stored = self._stored(address, fields, int(pttl))
            if stored is None:
                gone.append(_member(address))
            else:
                found.append(stored)
        if gone:
            await self._redis.srem(index_key(scope), *gone)  # type: ignore[misc]
        return sorted(found, key=lambda x: (x.task_id, x.map_index, x.key))

    async def _delete(self, scope: RunScope, addresses: list[XComAddress]) -> int:
        if not addresses:
            return 0
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[value_key(a) for a in addresses])
            pipe.srem(index_key(scope), *[_member(a) for a in addresses])
            deleted, _ = await pipe.execute()
        return int(deleted)

    async def delete(self, address: XComAddress) -> bool:
        return await self._delete(address.scope, [address]) > 0

    async def delete_task(self, scope: RunScope, task_id: str, map_index: int = UNMAPPED) -> int:
        addresses = [
            a
            for a in await self._members(scope)
            if a.task_id == task_id and a.map_index == map_index
        ]
        return await self._delete(scope, addresses)

    async def delete_run(self, scope: RunScope) -> int:
        deleted = await self._delete(scope, await self._members(scope))
        await self._redis.delete(index_key(scope))
        return deleted

    async def sweep_expired(self) -> int:
        """Nothing to do: Redis expires values and indexes itself."""
        return 0

    async def close(self) -> None:
        await self._redis.aclose()
