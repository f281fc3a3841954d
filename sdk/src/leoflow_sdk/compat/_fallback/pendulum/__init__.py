"""A minimal stand-in for ``pendulum``, used only when the real package is not installed.

Airflow DAG files commonly build their ``start_date`` with ``pendulum.datetime(..., tz=...)``.
This folder is appended at the *end* of ``sys.path``, so an installed pendulum always wins; the
stand-in returns standard ``datetime`` objects with ``zoneinfo`` zones, enough for DAG
definitions.
"""

from __future__ import annotations

import datetime as _dt
from zoneinfo import ZoneInfo

UTC = _dt.UTC


def timezone(name: str | _dt.tzinfo) -> _dt.tzinfo:
    """A zone by IANA name (``"UTC"``, ``"Europe/Paris"``)."""
    if isinstance(name, _dt.tzinfo):
        return name
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def datetime(  # noqa: PLR0917 - pendulum's own positional signature
    year: int,
    month: int = 1,
    day: int = 1,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
    tz: str | _dt.tzinfo | None = "UTC",
) -> _dt.datetime:
    """An aware datetime (UTC unless ``tz`` says otherwise), like ``pendulum.datetime``."""
    zone = timezone(tz) if tz is not None else None
    return _dt.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=zone)


def duration(**kwargs: float) -> _dt.timedelta:
    """A ``timedelta`` (``pendulum.duration(days=1)``)."""
    return _dt.timedelta(**kwargs)


def now(tz: str | _dt.tzinfo | None = "UTC") -> _dt.datetime:
    """The current time in ``tz``."""
    return _dt.datetime.now(timezone(tz) if tz is not None else UTC)


def parse(text: str, tz: str | _dt.tzinfo | None = "UTC") -> _dt.datetime:
    """An ISO 8601 string; naive values get ``tz``."""
    value = _dt.datetime.fromisoformat(text)
    if value.tzinfo is None and tz is not None:
        value = value.replace(tzinfo=timezone(tz))
    return value


__all__ = ["UTC", "datetime", "duration", "now", "parse", "timezone"]
