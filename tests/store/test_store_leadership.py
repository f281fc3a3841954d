"""Leader election on a real PostgreSQL: one leader, loss detection, hand-over."""

from __future__ import annotations

import asyncio

import psycopg

from leoflow.config import Settings
from leoflow.store.leadership import LeaderLease

KEY = 0x1E0F10
FAST = 0.1


async def _terminate(database_url: str, pid: int) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await cur.fetchone() == (True,)


async def test_one_leader_then_hand_over_when_its_session_dies(database_url: str) -> None:
    lost_calls: list[str] = []
    first = LeaderLease(
        database_url, KEY, watchdog_interval=FAST, on_lost=lambda: lost_calls.append("first")
    )
    second = LeaderLease(database_url, KEY, watchdog_interval=FAST)
    async with first, second:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert first.is_leader and not second.is_leader
        assert await first.try_acquire(), "re-asking while leader is a no-op success"

        pid = first.backend_pid
        assert pid is not None
        await _terminate(database_url, pid)

        await asyncio.wait_for(first.lost.wait(), timeout=5)
        assert not first.is_leader
        assert lost_calls == ["first"]
        assert first.backend_pid is None, "the dead connection is closed"

        assert await second.try_acquire(), "the follower takes over on its next try"
        assert not await first.try_acquire()
        assert not first.lost.is_set() or not first.is_leader


async def test_release_hands_over_immediately(database_url: str) -> None:
    first = LeaderLease(database_url, KEY, watchdog_interval=FAST)
    second = LeaderLease(database_url, KEY, watchdog_interval=FAST)
    async with second:
        async with first:
            assert await first.try_acquire()
            assert not await second.try_acquire()
        assert not first.is_leader
        assert not first.lost.is_set(), "a voluntary release is not a loss"
        assert await second.try_acquire()


async def test_watchdog_notices_a_lock_gone_from_a_live_session(database_url: str) -> None:
    lost = asyncio.Event()
    lease = LeaderLease(database_url, KEY, watchdog_interval=FAST, on_lost=lost.set)
    async with lease:
        assert await lease.try_acquire()
        conn = lease._conn
        assert conn is not None
        await conn.execute("SELECT pg_advisory_unlock_all()")
        await asyncio.wait_for(lost.wait(), timeout=5)
        assert not lease.is_leader and lease.lost.is_set()


async def test_unreachable_database_is_not_leadership() -> None:
    lease = LeaderLease(
        "postgresql://nobody@127.0.0.1:1/none", KEY, watchdog_interval=FAST, connect_timeout=2
    )
    assert not await lease.try_acquire()
    await lease.release()


async def test_async_on_lost_callback_is_awaited(database_url: str) -> None:
    called = asyncio.Event()

    async def on_lost() -> None:
        called.set()

    lease = LeaderLease(database_url, KEY, watchdog_interval=FAST, on_lost=on_lost)
    async with lease:
        assert await lease.try_acquire()
        pid = lease.backend_pid
        assert pid is not None
        await _terminate(database_url, pid)
        await asyncio.wait_for(called.wait(), timeout=5)


def test_lease_from_settings(database_url: str) -> None:
    settings = Settings(database_url=database_url, leader_watchdog_interval_seconds=0.5)
    lease = LeaderLease.from_settings(settings)
    assert lease._key == settings.leader_lock_key
    assert lease._interval == 0.5
