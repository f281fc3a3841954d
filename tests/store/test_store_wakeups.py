"""LISTEN/NOTIFY wake-ups between connections."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from leoflow.store.pool import Pool
from leoflow.store.wakeups import SCHEDULER_CHANNEL, listen, notify


async def test_notify_reaches_a_listener(database_url: str, db_pool: Pool) -> None:
    async with listen(database_url, SCHEDULER_CHANNEL, "other_channel") as listener:
        await notify(db_pool, SCHEDULER_CHANNEL, "run:42")
        wakeup = await listener.get(within=5)
        assert wakeup is not None
        assert (wakeup.channel, wakeup.payload) == (SCHEDULER_CHANNEL, "run:42")
        assert await listener.get(within=0.1) is None


async def test_notify_in_a_transaction_is_delivered_on_commit(database_url: str) -> None:
    async with (
        listen(database_url, SCHEDULER_CHANNEL) as listener,
        await psycopg.AsyncConnection.connect(database_url) as conn,
    ):
        await notify(conn, SCHEDULER_CHANNEL, "later")
        assert await listener.get(within=0.3) is None
        await conn.commit()
        wakeup = await listener.get(within=5)
        assert wakeup is not None and wakeup.payload == "later"


async def test_iterating_a_listener(database_url: str, db_pool: Pool) -> None:
    received: list[str] = []
    async with listen(database_url, "leoflow_test") as listener:

        async def consume() -> None:
            async for wakeup in listener:
                received.append(wakeup.payload)
                if len(received) == 2:
                    return

        consumer = asyncio.create_task(consume())
        await notify(db_pool, "leoflow_test", "a")
        await notify(db_pool, "leoflow_test", "b")
        await asyncio.wait_for(consumer, timeout=5)
    assert received == ["a", "b"]


async def test_bad_channel_and_oversized_payload_are_refused(db_pool: Pool) -> None:
    with pytest.raises(ValueError, match="invalid channel"):
        await notify(db_pool, "Robert'); DROP TABLE dags;--")
    with pytest.raises(ValueError, match="limit"):
        await notify(db_pool, SCHEDULER_CHANNEL, "x" * 9000)
