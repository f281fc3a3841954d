"""Task logs: one JSON-lines file per try, a reader, and live tails that end with the try.

The tail backend follows the XCom switch (ADR 0005): Redis pub/sub when ``LEOFLOW_REDIS_URL``
is set, in-process fan-out otherwise.
"""

from __future__ import annotations

from pathlib import Path

from leoflow.config import Settings
from leoflow.logs.records import AGENT, SERVER, STDERR, STDOUT, LogRecord, TryLogRef, parse_line
from leoflow.logs.service import IncomingLine, IngestResult, TaskLogs, render_text
from leoflow.logs.storage import FileLogStorage, LogStorage, path_component, relative_log_path
from leoflow.logs.tail import LogTail, MemoryLogTail

__all__ = [
    "AGENT",
    "SERVER",
    "STDERR",
    "STDOUT",
    "FileLogStorage",
    "IncomingLine",
    "IngestResult",
    "LogRecord",
    "LogStorage",
    "LogTail",
    "MemoryLogTail",
    "TaskLogs",
    "TryLogRef",
    "build_task_logs",
    "logs_root",
    "parse_line",
    "path_component",
    "relative_log_path",
    "render_text",
]


def logs_root(settings: Settings) -> Path:
    """``<home>/logs``: where task log files live."""
    return Path(settings.home) / "logs"


def build_task_logs(settings: Settings) -> TaskLogs:
    """Task logs for this process: files under ``<home>/logs``, tail by the Redis switch."""
    tail: LogTail
    if settings.redis_url is not None:
        from leoflow.logs.tail import RedisLogTail

        tail = RedisLogTail.from_url(settings.redis_url.get_secret_value())
    else:
        tail = MemoryLogTail()
    return TaskLogs(FileLogStorage(logs_root(settings)), tail)
