"""The agent's share of observability: its phase spans and its own log lines, without a
tracing or logging library (the SDK depends on grpcio, protobuf and jinja2 only).

**Spans.** The executor starts the agent with the try's W3C ``traceparent``
(``LEOFLOW_AGENT_TRACEPARENT``; its parent is the try's root span). The agent measures its
phases (``agent.fetch_xcom``, ``agent.execute_user_code``, ``agent.push_xcom``) as spans of that
trace, sends ``traceparent`` — naming the phase in progress — in the metadata of every call, so
the control plane's server span of each call nests under the phase that made it, and hands the
finished phase spans to the control plane with its final state report, which exports them.
Nothing here needs the network beyond the agent's one channel, and an agent started without a
``traceparent`` records nothing.

**Log lines.** One JSON object per line on stdout (``LEOFLOW_AGENT_LOG_FORMAT=json``, the
default), with the field names of the control plane's logs — ``timestamp``, ``level``,
``logger``, ``event`` and the try's ``tenant``, ``dag_id``, ``run_id``, ``task_id``,
``try_number``, ``trace_id``, ``span_id`` — so a log pipeline joins agent and control-plane lines
of one try; ``console`` prints ``leoflow agent: <message>`` instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from leoflow_sdk.agent.settings import LOG_FORMAT
from leoflow_sdk.protocol import agent_pb2

TRACEPARENT_HEADER = "traceparent"
MAX_SPANS = 32
"""Phase spans kept for one try (the control plane accepts no more than 64)."""

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceParent:
    """A parsed W3C ``traceparent`` (version 00)."""

    trace_id: bytes
    span_id: bytes
    flags: int

    @property
    def trace_id_hex(self) -> str:
        return self.trace_id.hex()

    def header(self, span_id: bytes | None = None) -> str:
        """The header value naming ``span_id`` (default: this one) as the parent."""
        return f"00-{self.trace_id.hex()}-{(span_id or self.span_id).hex()}-{self.flags:02x}"


def parse_traceparent(value: str | None) -> TraceParent | None:
    """The trace context in ``value``, or ``None`` when absent or malformed (all-zero ids are
    invalid in W3C Trace Context)."""
    match = _TRACEPARENT.match((value or "").strip().lower())
    if match is None:
        return None
    trace_id, span_id = bytes.fromhex(match.group(1)), bytes.fromhex(match.group(2))
    if not any(trace_id) or not any(span_id):
        return None
    return TraceParent(trace_id, span_id, int(match.group(3), 16))


def _new_span_id() -> bytes:
    while True:
        span_id = os.urandom(8)
        if any(span_id):
            return span_id


def _timestamp(nanos: int, message: Any) -> None:
    message.seconds, message.nanos = divmod(nanos, 1_000_000_000)


@dataclass
class _OpenSpan:
    name: str
    span_id: bytes
    parent_id: bytes
    start_ns: int
    attributes: dict[str, str] = field(default_factory=dict)
    error: str = ""
    discarded: bool = False
    token: Any = None

    def set(self, name: str, value: object) -> None:
        """Add a descriptive attribute (counts, codes; never data values)."""
        self.attributes[name] = str(value)

    def fail(self, reason: str) -> None:
        """Mark the phase failed with a short reason."""
        self.error = reason[:300]

    def discard(self) -> None:
        """Do not record this span (the phase turned out to have nothing to do)."""
        self.discarded = True


class AgentTracer:
    """Measures the agent's phases as spans of the try's trace (inactive without a parent)."""

    def __init__(self, parent: TraceParent | None) -> None:
        self.parent = parent
        self._current: ContextVar[bytes | None] = ContextVar("leoflow_agent_span", default=None)
        self._finished: list[agent_pb2.SpanRecord] = []

    @property
    def active(self) -> bool:
        return self.parent is not None

    def current_ids(self) -> tuple[str, str] | None:
        """``(trace_id, span_id)`` in hex of the phase in progress (or of the root)."""
        if self.parent is None:
            return None
        return self.parent.trace_id.hex(), (self._current.get() or self.parent.span_id).hex()

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The ``traceparent`` entry for a call's metadata: parent = the phase in progress."""
        if self.parent is None:
            return ()
        return ((TRACEPARENT_HEADER, self.parent.header(self._current.get())),)

    def start(self, name: str, **attributes: object) -> _OpenSpan:
        """Open ``name`` as the phase in progress of this task (close it with :meth:`end`, in
        the same task; tasks created meanwhile inherit it as their parent)."""
        opened = _OpenSpan(
            name,
            _new_span_id(),
            self._current.get() or b"",
            time.time_ns(),
            {key: str(value) for key, value in attributes.items()},
        )
        opened.token = self._current.set(opened.span_id)
        return opened

    def end(self, opened: _OpenSpan) -> None:
        """Close a span opened by :meth:`start` (its end time is now)."""
        if opened.token is not None:
            with contextlib.suppress(ValueError):
                self._current.reset(opened.token)
            opened.token = None
        self._finish(opened)

    @contextlib.contextmanager
    def span(self, name: str, **attributes: object) -> Iterator[_OpenSpan]:
        """Record ``name`` around the block (an exception marks it failed and propagates)."""
        opened = self.start(name, **attributes)
        try:
            yield opened
        except BaseException as exc:
            if not opened.error:
                opened.fail(type(exc).__name__)
            raise
        finally:
            self.end(opened)

    def _finish(self, opened: _OpenSpan) -> None:
        if self.parent is None or opened.discarded or len(self._finished) >= MAX_SPANS:
            return
        record = agent_pb2.SpanRecord(
            name=opened.name,
            trace_id=self.parent.trace_id,
            span_id=opened.span_id,
            parent_span_id=opened.parent_id,
            attributes=opened.attributes,
            error=opened.error,
        )
        _timestamp(opened.start_ns, record.start_time)
        _timestamp(max(time.time_ns(), opened.start_ns), record.end_time)
        self._finished.append(record)

    def records(self) -> list[agent_pb2.SpanRecord]:
        """The finished spans, for the final state report."""
        return list(self._finished)


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class AgentLog:
    """The agent's own log lines (not the task's output, which goes to the try's log)."""

    def __init__(
        self,
        fmt: str = "json",
        *,
        tracer: AgentTracer | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.format = "console" if fmt == "console" else "json"
        self.tracer = tracer
        self._stream = stream
        self.fields: dict[str, Any] = {}

    def bind(self, **fields: Any) -> None:
        """Fields carried by every following line (the try's identity once known)."""
        self.fields.update({k: v for k, v in fields.items() if v is not None and v != ""})

    def event(self, level: str, message: str, **fields: Any) -> None:
        """Write one line; never raises (a closed stdout must not fail the try)."""
        stream = self._stream or sys.stdout
        try:
            if self.format == "console":
                extra = " ".join(f"{k}={v}" for k, v in fields.items())
                stream.write(f"leoflow agent: {message}" + (f" ({extra})" if extra else "") + "\n")
            else:
                stream.write(self.render(level, message, fields) + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass

    def render(self, level: str, message: str, fields: Mapping[str, Any]) -> str:
        """The JSON line of an event."""
        record: dict[str, Any] = {
            "event": message,
            "level": level if level in _LEVELS else "info",
            "logger": "leoflow.agent",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            **self.fields,
            **fields,
        }
        ids = self.tracer.current_ids() if self.tracer is not None else None
        if ids is not None:
            record.setdefault("trace_id", ids[0])
            record.setdefault("span_id", ids[1])
        return json.dumps(record, ensure_ascii=False, default=str)

    def info(self, message: str, **fields: Any) -> None:
        self.event("info", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.event("warning", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.event("error", message, **fields)


def write_task_line(stream: int, text: str, log: AgentLog | None = None) -> None:
    """A line of the task's output copied to the agent's own output (``ECHO_LOGS``, or when
    shipping failed): as is in console format, as a JSON event in json format, so the agent's
    stdout stays one JSON object per line for log collectors."""
    log = log or default_log()
    target = sys.stdout if stream == agent_pb2.LOG_STREAM_STDOUT else sys.stderr
    if log.format == "console":
        target.write(text + "\n")
    else:
        name = agent_pb2.LogStream.Name(stream).removeprefix("LOG_STREAM_").lower()  # type: ignore[arg-type]
        target.write(log.render("info", text, {"logger": "task", "stream": name}) + "\n")
    target.flush()


def log_format_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``json`` unless ``LEOFLOW_AGENT_LOG_FORMAT=console`` (read before settings are valid, so
    even a settings error is reported in the configured format)."""
    env = os.environ if environ is None else environ
    value = env.get(LOG_FORMAT, "").strip().lower()
    return "console" if value == "console" else "json"


_default_log: AgentLog | None = None


def default_log() -> AgentLog:
    """The process's log (format from the environment), for code without an ``Agent``."""
    global _default_log  # noqa: PLW0603 - one log per agent process
    if _default_log is None:
        _default_log = AgentLog(log_format_from_env())
    return _default_log


def set_default_log(log: AgentLog) -> None:
    """Make ``log`` (bound to the try, traced) the one :func:`default_log` returns."""
    global _default_log  # noqa: PLW0603 - one log per agent process
    _default_log = log
