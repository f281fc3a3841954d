"""Turning Airflow-side Python values (timedelta, datetime, schedules) into JSON-ready values.

The recorder keeps only what can be written to ``dag.json``; anything else is a compile error
at the user's line rather than a value silently dropped.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from .errors import InvalidDagError, NotSupportedError

PRESETS = frozenset(
    {"@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually"}
)


def json_literal(value: Any, where: str) -> Any:
    """A JSON-ready copy of ``value`` (tuples become lists) or a compile error naming ``where``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise InvalidDagError(
            f"{where} is the float {value!r}, which JSON cannot hold",
            "pass a finite number or a string",
        )
    if isinstance(value, (list, tuple)):
        return [json_literal(item, where) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise InvalidDagError(
                f"{where} is a dict with non-string keys", "use string keys so it fits in JSON"
            )
        return {key: json_literal(item, where) for key, item in value.items()}
    raise InvalidDagError(
        f"{where} is a {type(value).__name__} ({str(value)[:60]}), which is not a JSON literal",
        "pass JSON values only (str, int, float, bool, None, list, dict) "
        "and convert the rest inside the task",
    )


def flag(value: Any, what: str) -> bool | None:
    """A boolean argument; ``None`` stays ``None``, anything but a bool is a compile error.

    ``retry_exponential_backoff`` only switches doubling on or off here; a number would read as
    a multiplier to some users, so it is refused rather than rounded to a bool.
    """
    if value is None or isinstance(value, bool):
        return value
    raise InvalidDagError(f"{what} is {value!r}", "pass True or False")


_DOC_LANGUAGES = (("doc", "text"), ("doc_rst", "rst"), ("doc_json", "json"), ("doc_yaml", "yaml"))


def _fenced(text: str, language: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def doc_markdown(args: dict[str, Any]) -> str | None:
    """A task's documentation as one Markdown text for ``doc_md``.

    ``doc_md`` is kept as written; ``doc``, ``doc_rst``, ``doc_json`` and ``doc_yaml`` are shown
    by Airflow as highlighted blocks, so they become fenced code blocks after it.
    """
    parts: list[str] = []
    if args.get("doc_md"):
        parts.append(str(args["doc_md"]))
    parts.extend(
        _fenced(str(args[name]), language) for name, language in _DOC_LANGUAGES if args.get(name)
    )
    return "\n\n".join(parts) or None


def seconds(value: Any, what: str) -> int | float | None:
    """A duration (timedelta or number of seconds) as seconds; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        total = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        total = float(value)
    else:
        raise InvalidDagError(
            f"{what} is a {type(value).__name__}", "pass a datetime.timedelta or seconds"
        )
    if total < 0:
        raise InvalidDagError(f"{what} is negative", "pass a positive duration")
    return int(total) if total == int(total) else total


def timezone_name(value: dt.datetime) -> str:
    """The IANA name of a datetime's zone (``UTC`` for naive ones, as Airflow's default)."""
    tz = value.tzinfo
    if tz is None or (value.utcoffset() == dt.timedelta(0) and not hasattr(tz, "key")):
        return "UTC"
    name = getattr(tz, "key", None) or getattr(tz, "name", None)
    if isinstance(name, str) and name:
        return name
    raise NotSupportedError(f"a fixed-offset timezone ({tz!r}) on a DAG date")


def iso_datetime(value: Any, what: str) -> str | None:
    """A date or datetime as ISO 8601 with offset; naive values are UTC, as in Airflow."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.isoformat()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).isoformat()
    raise InvalidDagError(f"{what} is a {type(value).__name__}", "pass a datetime")


def schedule(value: Any) -> Any:
    """A schedule as a cron string, a preset, ``None`` or ``{"every_seconds": n}`` (timedelta)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text == "@continuous":
            raise NotSupportedError("the @continuous schedule")
        if text.startswith("@") and text not in PRESETS:
            raise InvalidDagError(
                f"schedule {text!r} is not a known preset",
                f"use a cron expression or one of {', '.join(sorted(PRESETS))}",
            )
        if not text.startswith("@") and len(text.split()) != 5:
            raise InvalidDagError(
                f"schedule {text!r} is not a five-field cron expression",
                "write it as 'minute hour day-of-month month day-of-week'",
            )
        return text
    if isinstance(value, dt.timedelta):
        return {"every_seconds": seconds(value, "schedule")}
    kind = type(value).__name__
    if kind in {"Asset", "Dataset", "AssetAll", "AssetAny", "list", "tuple"}:
        raise NotSupportedError("asset/dataset schedules")
    raise NotSupportedError(f"{kind} schedules (timetables)")
