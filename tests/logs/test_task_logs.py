"""Task logs: file layout and line shape, reading (structured and text), duplicate drops, live
tails (in-process and a real Redis) that end with the try, and retention."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from leoflow.logs import (
    FileLogStorage,
    IncomingLine,
    MemoryLogTail,
    TaskLogs,
    TryLogRef,
    parse_line,
    path_component,
    relative_log_path,
    render_text,
)
from leoflow.logs.tail import RedisLogTail

REF = TryLogRef("default", "etl", "manual__2025-01-01T00:00:00+00:00", "extract", 1)


def _line(n: int, stream: str = "stdout") -> IncomingLine:
    return IncomingLine(stream, f"line {n}", datetime.now(UTC), n)


def _logs(tmp_path: Path, **kwargs: Any) -> TaskLogs:
    return TaskLogs(FileLogStorage(tmp_path / "logs"), MemoryLogTail(), **kwargs)


def test_layout_is_tenant_dag_run_task_try() -> None:
    assert relative_log_path(REF) == Path(
        "default/etl/manual__2025-01-01T00:00:00+00:00/extract/1.log"
    )
    mapped = TryLogRef("t", "d", "r", "x", 3, map_index=2)
    assert relative_log_path(mapped) == Path("t/d/r/x/map_2/3.log")


def test_hostile_run_ids_stay_inside_their_folder() -> None:
    for hostile in ("../../etc", "..", ".", "a/b", "", "x%2Fy"):
        part = path_component(hostile)
        assert "/" not in part and part not in ("", ".", "..")
    assert path_component("a/b") != path_component("a%2Fb")


async def test_lines_are_four_field_json_readable_while_written(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    await logs.ingest(REF, [_line(1), _line(2, "stderr")])
    await logs.write(REF, "[leoflow] try 1 of 1 running")
    path = tmp_path / "logs" / relative_log_path(REF)
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    assert [set(r) for r in raw] == [{"timestamp", "level", "stream", "event"}] * 3
    assert [(r["level"], r["stream"]) for r in raw] == [
        ("info", "stdout"),
        ("error", "stderr"),
        ("info", "server"),
    ]
    assert raw[0]["timestamp"].endswith("Z")
    text = await logs.read_text(REF)
    assert "INFO stdout - line 1" in text and "ERROR stderr - line 2" in text


async def test_resent_lines_are_dropped_and_sequence_survives_a_restart(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    first = await logs.ingest(REF, [_line(1), _line(2), _line(3)])
    assert (first.stored, first.last_sequence) == (3, 3)
    again = await logs.ingest(REF, [_line(2), _line(3), _line(4)])
    assert (again.stored, again.duplicates, again.last_sequence) == (1, 2, 4)
    events = [r["event"] for r in await logs.read_structured(REF)]
    assert events == ["line 1", "line 2", "line 3", "line 4"]


def test_reader_accepts_plain_text_and_airflow_shapes() -> None:
    assert parse_line("just text\n") == {
        "timestamp": None,
        "level": "info",
        "stream": "stdout",
        "event": "just text",
    }
    airflow = '{"timestamp": "2025-01-01T00:00:00Z", "event": "hi", "level": "warning"}'
    assert parse_line(airflow)["level"] == "warning"
    assert render_text({"timestamp": None, "event": "x"}) == "[-] INFO - - x"


async def test_log_size_limit_drops_lines_and_says_so(tmp_path: Path) -> None:
    logs = _logs(tmp_path, max_try_bytes=400)
    result = await logs.ingest(REF, [_line(n) for n in range(1, 20)])
    assert result.dropped > 0
    text = await logs.read_text(REF)
    assert "log limit" in text
    assert (tmp_path / "logs" / relative_log_path(REF)).stat().st_size < 600


async def _follow(logs: TaskLogs, finished: list[bool]) -> list[str]:
    async def is_finished() -> bool:
        return finished[0]

    return [r["event"] async for r in logs.follow(REF, is_finished, poll_seconds=0.2)]


async def test_memory_tail_follows_a_running_try_until_it_ends(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    await logs.ingest(REF, [_line(1)])
    finished = [False]
    follower = asyncio.create_task(_follow(logs, finished))
    await asyncio.sleep(0.1)
    await logs.ingest(REF, [_line(2), _line(3)])
    await asyncio.sleep(0.05)
    await logs.ingest(REF, [_line(4)])
    await logs.end(REF)
    events = await asyncio.wait_for(follower, 5)
    assert events == ["line 1", "line 2", "line 3", "line 4"]


async def test_follow_ends_without_the_marker_once_the_try_is_over(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    await logs.ingest(REF, [_line(1)])
    events = await asyncio.wait_for(_follow(logs, [True]), 5)
    assert events == ["line 1"]


@pytest.mark.redis
async def test_redis_tail_follows_across_clients(tmp_path: Path, redis_url: str) -> None:
    storage = FileLogStorage(tmp_path / "logs")
    writer = TaskLogs(storage, RedisLogTail(Redis.from_url(redis_url)))
    reader = TaskLogs(storage, RedisLogTail(Redis.from_url(redis_url)))
    try:
        await writer.ingest(REF, [_line(1)])
        follower = asyncio.create_task(_follow(reader, [False]))
        await asyncio.sleep(0.3)
        await writer.ingest(REF, [_line(2)])
        await writer.end(REF)
        assert await asyncio.wait_for(follower, 5) == ["line 1", "line 2"]
    finally:
        await writer.close()
        await reader.close()


async def test_retention_removes_old_tries_only(tmp_path: Path) -> None:
    storage = FileLogStorage(tmp_path / "logs")
    old = TryLogRef("default", "etl", "old_run", "t", 1)
    await storage.append(old, [])
    logs = TaskLogs(storage, MemoryLogTail())
    await logs.write(old, "old")
    await logs.write(REF, "new")
    stale = time.time() - 40 * 86400
    os.utime(storage.path(old), (stale, stale))
    assert await storage.delete_older_than(30 * 86400) == 1
    assert not storage.path(old).exists() and not storage.path(old).parent.exists()
    assert storage.path(REF).exists()
