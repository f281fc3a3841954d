"""One task log line and the try it belongs to.

Every line is stored as one JSON object with exactly four fields — ``timestamp`` (ISO 8601,
UTC), ``level``, ``stream`` and ``event`` — which is the shape of Airflow 3's structured task
logs, so the log API can serve stored lines as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

STDOUT = "stdout"
STDERR = "stderr"
AGENT = "agent"
SERVER = "server"
"""Lines written by the control plane about the try (inline HTTP, timeouts, failures)."""

LEVEL_FOR_STREAM = {STDOUT: "info", STDERR: "error", AGENT: "info", SERVER: "info"}
"""Airflow's supervisor logs a task's stdout at INFO and its stderr at ERROR; so do we."""


@dataclass(frozen=True, slots=True)
class TryLogRef:
    """The log of one try of one task instance."""

    tenant: str
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    map_index: int = -1


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One stored line."""

    timestamp: datetime
    level: str
    stream: str
    event: str

    @classmethod
    def now(cls, event: str, *, stream: str = SERVER, level: str | None = None) -> LogRecord:
        return cls(datetime.now(UTC), level or LEVEL_FOR_STREAM.get(stream, "info"), stream, event)

    def to_dict(self) -> dict[str, str]:
        return {
            "timestamp": _iso(self.timestamp),
            "level": self.level,
            "stream": self.stream,
            "event": self.event,
        }

    def to_json(self) -> str:
        """The stored form: one line of JSON, no trailing newline."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def parse_line(text: str) -> dict[str, Any]:
    """A stored line as a structured record; text that is not one of ours (a file written by
    hand, a truncated last line) becomes a plain ``event`` so nothing is lost on reading."""
    text = text.rstrip("\n")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "event" in data:
        return {
            "timestamp": data.get("timestamp"),
            "level": data.get("level", "info"),
            "stream": data.get("stream", STDOUT),
            "event": str(data["event"]),
        }
    return {"timestamp": None, "level": "info", "stream": STDOUT, "event": text}
