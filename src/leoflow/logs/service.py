"""Task logs: store what agents stream, frame it with the try's lifecycle, serve and follow it.

Agents number their lines (``sequence``) so a batch resent after a reconnect is dropped here,
not stored twice. The control plane adds its own lines about the try (``stream = server``):
who ran it, why it failed, that it timed out. Nothing here ever writes an XCom value or a
secret: callers pass sizes and names only (ADR 0022).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leoflow.logs.records import LEVEL_FOR_STREAM, SERVER, LogRecord, TryLogRef, parse_line
from leoflow.logs.storage import LogStorage
from leoflow.logs.tail import LogTail
from leoflow.telemetry import get_logger
from leoflow.telemetry.metrics import TASK_LOG_DUPLICATES, TASK_LOG_LINES

log = get_logger(__name__)

MAX_TRY_LOG_BYTES = 100 * 1024 * 1024
"""A runaway task stops being logged here rather than filling the disk; said in the log."""

_TRACKED_TRIES = 10_000


@dataclass(frozen=True, slots=True)
class IncomingLine:
    """One line as an agent sent it."""

    stream: str
    text: str
    timestamp: datetime
    sequence: int


@dataclass(frozen=True, slots=True)
class IngestResult:
    stored: int
    last_sequence: int
    dropped: int
    duplicates: int


@dataclass
class _TryState:
    last_sequence: int
    lines: int
    size: int
    over_limit: bool = False


class TaskLogs:
    """The one writer and reader of task logs in a process."""

    def __init__(
        self, storage: LogStorage, tail: LogTail, *, max_try_bytes: int = MAX_TRY_LOG_BYTES
    ) -> None:
        self.storage = storage
        self.tail = tail
        self._max_try_bytes = max_try_bytes
        self._tries: OrderedDict[TryLogRef, _TryState] = OrderedDict()
        self._lock = asyncio.Lock()

    async def _state(self, ref: TryLogRef) -> _TryState:
        state = self._tries.get(ref)
        if state is None:
            # First time this process sees the try (or after a restart): count what is stored,
            # so line numbers and the size limit continue where they were (a new try, the
            # usual case, has nothing stored: its size says so without reading anything).
            size = await self.storage.size(ref)
            lines = len((await self.storage.read(ref))[0]) if size else 0
            state = _TryState(0, lines, size)
            self._tries[ref] = state
            while len(self._tries) > _TRACKED_TRIES:
                self._tries.popitem(last=False)
        else:
            self._tries.move_to_end(ref)
        return state

    async def _write(self, ref: TryLogRef, state: _TryState, records: list[LogRecord]) -> int:
        if not records:
            return 0
        written = await self.storage.append(ref, records)
        first = state.lines + 1
        state.lines += len(records)
        state.size += written
        await self.tail.publish(ref, first, records)
        return len(records)

    async def ingest(self, ref: TryLogRef, lines: Sequence[IncomingLine]) -> IngestResult:
        """Store a batch from an agent; lines at or below the last stored sequence are
        duplicates of a resent batch and are dropped."""
        async with self._lock:
            state = await self._state(ref)
            fresh = [line for line in lines if line.sequence > state.last_sequence]
            duplicates = len(lines) - len(fresh)
            if duplicates:
                TASK_LOG_DUPLICATES.inc(duplicates)
            records: list[LogRecord] = []
            dropped = 0
            pending = state.size
            for line in sorted(fresh, key=lambda item: item.sequence):
                state.last_sequence = max(state.last_sequence, line.sequence)
                if state.over_limit:
                    dropped += 1
                    continue
                record = LogRecord(
                    line.timestamp,
                    LEVEL_FOR_STREAM.get(line.stream, "info"),
                    line.stream,
                    line.text,
                )
                pending += len(record.to_json().encode()) + 1
                if pending > self._max_try_bytes:
                    state.over_limit = True
                    dropped += 1
                    records.append(
                        LogRecord.now(
                            f"[leoflow] log limit of {self._max_try_bytes // (1024 * 1024)} MiB "
                            "reached for this try; later lines are dropped",
                            level="warning",
                        )
                    )
                    continue
                records.append(record)
                TASK_LOG_LINES.labels(line.stream).inc()
            stored = await self._write(ref, state, records)
            return IngestResult(stored, state.last_sequence, dropped, duplicates)

    async def last_sequence(self, ref: TryLogRef) -> int:
        """Highest agent sequence stored for the try in this process (0 when none)."""
        async with self._lock:
            return (await self._state(ref)).last_sequence

    async def write(
        self, ref: TryLogRef, event: str, *, level: str = "info", stream: str = SERVER
    ) -> None:
        """Add a control-plane line about the try (framing: started, failed, timed out…)."""
        async with self._lock:
            state = await self._state(ref)
            await self._write(ref, state, [LogRecord.now(event, stream=stream, level=level)])
            TASK_LOG_LINES.labels(stream).inc()

    async def end(self, ref: TryLogRef) -> None:
        """The try ended: live followers finish."""
        await self.tail.end(ref)

    async def read_structured(self, ref: TryLogRef) -> list[dict[str, Any]]:
        """The try's log as Airflow structured records (one dict per stored line)."""
        lines, _ = await self.storage.read(ref)
        return [parse_line(line) for line in lines]

    async def read_text(self, ref: TryLogRef) -> str:
        """The try's log as plain text, one line per record."""
        return "".join(render_text(rec) + "\n" for rec in await self.read_structured(ref))

    async def follow(
        self,
        ref: TryLogRef,
        is_finished: Callable[[], Awaitable[bool]],
        *,
        poll_seconds: float = 1.0,
    ) -> AsyncIterator[dict[str, Any]]:
        """Everything stored so far, then new lines as they are stored, until the try ends.

        Ends on the tail's end marker, or — should the marker be missed (another replica, a
        restart) — when ``is_finished`` says so and nothing new arrived for ``poll_seconds``.
        """
        async with self.tail.subscribe(ref) as sub:
            lines, offset = await self.storage.read(ref)
            seen = len(lines)
            for line in lines:
                yield parse_line(line)
            while True:
                event = await sub.get(poll_seconds)
                # The stored file is the truth and the tail a doorbell: read what was stored
                # since the last read. Only when the file shows nothing new (it is written on
                # another replica) are the tail's own copies of the lines used.
                more, offset = await self.storage.read(ref, offset)
                for line in more:
                    seen += 1
                    yield parse_line(line)
                if event is None:
                    if not more and await is_finished():
                        return
                elif event.is_end:
                    return
                elif not more and event.record is not None and event.line_no > seen:
                    seen = event.line_no
                    yield dict(event.record)

    async def retention_forever(
        self, retention_days: float, interval_seconds: float = 3600
    ) -> None:
        """Delete logs older than ``retention_days`` every ``interval_seconds`` (0 = keep)."""
        if retention_days <= 0:
            return
        while True:
            started = time.monotonic()
            try:
                removed = await self.storage.delete_older_than(retention_days * 86400)
                if removed:
                    log.info("old task logs removed", removed=removed, days=retention_days)
            except Exception as exc:  # try again next time
                log.warning("task log retention failed", error=str(exc))
            await asyncio.sleep(max(interval_seconds - (time.monotonic() - started), 1.0))

    async def close(self) -> None:
        await self.tail.close()


def render_text(record: dict[str, Any]) -> str:
    """One record as a plain-text line: ``[timestamp] LEVEL stream - event``."""
    stamp = record.get("timestamp") or "-"
    level = str(record.get("level") or "info").upper()
    return f"[{stamp}] {level} {record.get('stream') or '-'} - {record.get('event', '')}"
