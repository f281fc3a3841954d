"""Live tails of running tries: in-process fan-out (Lite) or Redis pub/sub (Pro).

A tail carries what the log writer just stored, numbered by line, plus an end marker when the
try ends. Followers read the stored file first and then the tail, skipping lines already read
(by number), so a line is neither missed nor shown twice around the hand-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from leoflow.logs.records import LogRecord, TryLogRef
from leoflow.logs.storage import path_component


@dataclass(frozen=True, slots=True)
class TailEvent:
    """A stored line (``line_no`` counts from 1 within the try's file) or the end marker."""

    line_no: int
    record: dict[str, str] | None

    @property
    def is_end(self) -> bool:
        return self.record is None


class Subscription(Protocol):
    """Events of one try's tail, until closed."""

    async def get(self, wait_seconds: float) -> TailEvent | None:
        """The next event, or ``None`` when nothing arrived within ``wait_seconds``."""


class LogTail(Protocol):
    """Publishes stored lines and lets readers follow them live."""

    async def publish(
        self, ref: TryLogRef, first_line_no: int, records: Sequence[LogRecord]
    ) -> None:
        """Announce lines just stored; ``first_line_no`` is the number of the first one."""

    async def end(self, ref: TryLogRef) -> None:
        """The try ended: followers stop after what they have."""

    def subscribe(self, ref: TryLogRef) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Receive what is published for ``ref`` from now on."""

    async def close(self) -> None:
        """Release connections."""


class _QueueSubscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[TailEvent] = asyncio.Queue(maxsize=10_000)

    async def get(self, wait_seconds: float) -> TailEvent | None:
        try:
            return await asyncio.wait_for(self.queue.get(), wait_seconds)
        except TimeoutError:
            return None


class MemoryLogTail:
    """Fan-out to followers in this process (Lite is one process)."""

    def __init__(self) -> None:
        self._subscribers: dict[TryLogRef, set[_QueueSubscription]] = {}

    def _offer(self, ref: TryLogRef, event: TailEvent) -> None:
        for sub in self._subscribers.get(ref, ()):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled follower re-reads the file
                sub.queue.put_nowait(event)

    async def publish(
        self, ref: TryLogRef, first_line_no: int, records: Sequence[LogRecord]
    ) -> None:
        for offset, record in enumerate(records):
            self._offer(ref, TailEvent(first_line_no + offset, record.to_dict()))

    async def end(self, ref: TryLogRef) -> None:
        self._offer(ref, TailEvent(0, None))

    @asynccontextmanager
    async def subscribe(self, ref: TryLogRef) -> AsyncIterator[Subscription]:
        sub = _QueueSubscription()
        self._subscribers.setdefault(ref, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers.get(ref)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[ref]

    async def close(self) -> None:
        self._subscribers.clear()


def channel_name(ref: TryLogRef) -> str:
    """The Redis pub/sub channel of a try's tail."""
    parts = (ref.tenant, ref.dag_id, ref.run_id, ref.task_id, str(ref.map_index))
    return "logs:" + ":".join(path_component(p) for p in parts) + f":{ref.try_number}"


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub
        self._pending: list[TailEvent] = []

    async def get(self, wait_seconds: float) -> TailEvent | None:
        if self._pending:
            return self._pending.pop(0)
        message = await self._pubsub.get_message(
            ignore_subscribe_messages=True, timeout=wait_seconds
        )
        if message is None:
            return None
        data = json.loads(message["data"])
        if data.get("end"):
            return TailEvent(0, None)
        first = int(data["first"])
        self._pending = [TailEvent(first + i, rec) for i, rec in enumerate(data["records"])]
        return self._pending.pop(0) if self._pending else None


class RedisLogTail:
    """Fan-out through Redis pub/sub, so a browser on any replica follows any try."""

    def __init__(self, client: Redis) -> None:
        self._redis = client

    @classmethod
    def from_url(cls, url: str) -> RedisLogTail:
        return cls(Redis.from_url(url, decode_responses=False))

    async def publish(
        self, ref: TryLogRef, first_line_no: int, records: Sequence[LogRecord]
    ) -> None:
        if records:
            payload = {"first": first_line_no, "records": [r.to_dict() for r in records]}
            await self._redis.publish(channel_name(ref), json.dumps(payload))

    async def end(self, ref: TryLogRef) -> None:
        await self._redis.publish(channel_name(ref), json.dumps({"end": True}))

    @asynccontextmanager
    async def subscribe(self, ref: TryLogRef) -> AsyncIterator[Subscription]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(channel_name(ref))
        try:
            yield _RedisSubscription(pubsub)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()
