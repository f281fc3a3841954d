"""Shipping the task's output to the control plane while it runs (``StreamLogs``).

Lines are numbered per try (``sequence``, from 1) and sent in batches on one client stream:
a batch leaves as soon as it is big, and no line waits longer than the flush interval
(≤ 1 s), so a running task's log is readable live. When the stream breaks, it is reopened
with backoff and the lines not yet acknowledged are sent again; the server drops duplicates
by sequence. Memory is bounded: beyond the limits the oldest lines are dropped and the count is
reported once the control plane is reachable again.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import grpc
import grpc.aio
from google.protobuf.timestamp_pb2 import Timestamp

from leoflow_sdk.agent.control_plane import RETRYABLE_CODES, Backoff, ControlPlane
from leoflow_sdk.agent.telemetry import default_log, write_task_line
from leoflow_sdk.protocol import agent_pb2

BATCH_LINES = 500
"""A batch this big is sent without waiting for the flush interval."""

PENDING_LIMIT = 100_000
"""Lines kept while the control plane is unreachable; older ones are dropped beyond it."""

RESEND_LIMIT = 20_000
"""Sent-but-unacknowledged lines kept for a resend after the stream breaks."""

STDOUT = agent_pb2.LOG_STREAM_STDOUT
STDERR = agent_pb2.LOG_STREAM_STDERR
AGENT = agent_pb2.LOG_STREAM_AGENT


def _timestamp() -> Timestamp:
    now = time.time_ns()
    return Timestamp(seconds=now // 1_000_000_000, nanos=now % 1_000_000_000)


class LogShipper:
    """Numbers, batches and sends the lines of one try."""

    def __init__(
        self,
        plane: ControlPlane,
        task_instance: agent_pb2.TaskInstanceKey,
        *,
        flush_seconds: float,
        echo: bool = False,
    ) -> None:
        self._plane = plane
        self._key = task_instance
        self._flush_seconds = flush_seconds
        self._echo = echo
        self._pending: deque[agent_pb2.LogLine] = deque()
        self._unacked: deque[agent_pb2.LogLine] = deque(maxlen=RESEND_LIMIT)
        self._sequence = 0
        self._dropped = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self.lines_acknowledged = 0

    def start(self) -> None:
        """Begin shipping in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="leoflow-log-shipper")

    def emit(self, stream: int, text: str) -> None:
        """Queue one line (without its newline) from ``stream``."""
        if self._echo or self._stopped:
            write_task_line(stream, text)
        if self._stopped:
            return
        self._sequence += 1
        line = agent_pb2.LogLine(
            stream=stream,  # type: ignore[arg-type]
            line=text,
            timestamp=_timestamp(),
            sequence=self._sequence,
        )
        if len(self._pending) >= PENDING_LIMIT:
            self._pending.popleft()
            self._dropped += 1
        self._pending.append(line)
        if len(self._pending) >= BATCH_LINES:
            self._wake.set()

    async def close(self, within_seconds: float) -> bool:
        """Send what is left and end the stream; ``False`` if it could not be done in time."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return not self._pending
        try:
            await asyncio.wait_for(asyncio.shield(self._task), within_seconds)
        except TimeoutError:
            self._task.cancel()
            return False
        except Exception as exc:  # the shipper failed: the try must still be reported
            default_log().error(f"log shipping failed: {exc!r}")
            return False
        return not self._pending and not self._unacked

    def _take_batch(self) -> list[agent_pb2.LogLine]:
        batch = list(self._pending)
        self._pending.clear()
        if self._dropped:
            # Said in-band, so the gap is visible where the lines are missing.
            self._sequence += 1
            batch.append(
                agent_pb2.LogLine(
                    stream=AGENT,
                    line=f"[leoflow] {self._dropped} log lines were dropped while the "
                    "control plane was unreachable",
                    timestamp=_timestamp(),
                    sequence=self._sequence,
                )
            )
            self._dropped = 0
        return batch

    async def _next_batch(self) -> list[agent_pb2.LogLine] | None:
        """The next lines to send, or ``None`` once closing and everything is taken."""
        while True:
            if self._pending and (self._closing or len(self._pending) >= BATCH_LINES):
                return self._take_batch()
            if self._closing and not self._pending:
                return None
            try:
                await asyncio.wait_for(self._wake.wait(), self._flush_seconds)
            except TimeoutError:
                if self._pending:
                    return self._take_batch()
            self._wake.clear()

    def _request(self, lines: list[agent_pb2.LogLine]) -> agent_pb2.StreamLogsRequest:
        return agent_pb2.StreamLogsRequest(task_instance=self._key, lines=lines)

    async def _stream_once(self) -> None:
        call = self._plane.stub.StreamLogs(
            metadata=self._plane.call_metadata(), wait_for_ready=True
        )
        try:
            if self._unacked:
                await call.write(self._request(list(self._unacked)))
            while (batch := await self._next_batch()) is not None:
                self._unacked.extend(batch)
                await call.write(self._request(batch))
            await call.done_writing()
            response = await call
        except BaseException:
            call.cancel()
            raise
        self.lines_acknowledged += response.lines_received
        self._unacked.clear()

    async def _run(self) -> None:
        backoff = Backoff(first=0.2, cap=5.0)
        while True:
            try:
                await self._stream_once()
                return
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRYABLE_CODES:
                    self._give_up(f"{error.code().name}: {error.details() or ''}".strip())
                    return
            except Exception:  # a stream that ended abnormally: reopen it and resend
                pass
            await asyncio.sleep(backoff.next_delay())

    def _give_up(self, reason: str) -> None:
        """A refusal: stop shipping and write the lines to the agent's own output instead."""
        self._stopped = True
        default_log().error(
            f"task logs are no longer shipped ({reason}); writing them to the agent's output "
            "instead"
        )
        for line in [*self._unacked, *self._pending]:
            write_task_line(line.stream, line.line)
        self._unacked.clear()
        self._pending.clear()
