"""The ``schedule`` and ``schedule_timezone`` fields of ``dag.json``.

A schedule takes one of four forms, all plain JSON:

* ``null`` — manual runs only (Airflow 3's default);
* a preset — ``@once``, ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@quarterly``,
  ``@yearly``, ``@annually``;
* a five-field cron expression (minute hour day-of-month month day-of-week), evaluated in
  ``schedule_timezone`` by croniter;
* ``{"interval_seconds": N}`` — a fixed interval, what Airflow writes as
  ``schedule=timedelta(...)``: runs every N seconds counted from ``start_date``.

The interval form is an object rather than a magic string so that it cannot be confused with
a cron expression, has a JSON Schema of its own, and needs no parsing by consumers.
``@continuous`` (and any other ``@`` word) is refused: Leoflow does not support it yet, and an
unsupported schedule must fail at compile time rather than never fire.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from pydantic import AfterValidator, BeforeValidator, Field

from leoflow.spec.fields import SpecModel

ONCE = "@once"
PRESET_CRON: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
"""Cron equivalent of every supported preset except ``@once`` (Airflow's definitions)."""

PRESETS: tuple[str, ...] = (ONCE, *PRESET_CRON)
"""Every preset a ``schedule`` may name."""

_SCHEDULE_FORMS = (
    "use a 5-field cron expression like '0 6 * * *', a preset "
    f'({", ".join(PRESETS)}), {{"interval_seconds": N}} for a fixed interval, '
    "or null for manual runs only"
)
_CRON_PROBE_START = datetime(2000, 1, 1, tzinfo=UTC)


class IntervalSchedule(SpecModel):
    """A fixed-interval schedule (Airflow's ``schedule=timedelta(...)``).

    Runs fire every ``interval_seconds`` seconds counted from the DAG's ``start_date``, with
    Airflow 3 trigger semantics.
    """

    interval_seconds: Annotated[int, Field(strict=True, ge=1)]


def validate_cron(expression: str) -> str:
    """Check a five-field cron expression; returns it unchanged or raises ``ValueError``."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron expression {expression!r} has {len(fields)} field"
            f"{'' if len(fields) == 1 else 's'}; Leoflow schedules at "
            "minute resolution and expects 5 (minute hour day-of-month month day-of-week)"
        )
    if not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} is not a valid cron expression; {_SCHEDULE_FORMS}")
    try:
        croniter(expression, _CRON_PROBE_START).get_next(datetime)
    except CroniterBadDateError as exc:
        raise ValueError(f"cron expression {expression!r} never fires (no such date)") from exc
    return expression


def _parse_schedule(value: Any) -> Any:
    if value is None or isinstance(value, IntervalSchedule):
        return value
    if isinstance(value, dict):
        if set(value) != {"interval_seconds"}:
            raise ValueError(
                f'an interval schedule is exactly {{"interval_seconds": N}}, got keys '
                f"{sorted(value)}; {_SCHEDULE_FORMS}"
            )
        seconds = value["interval_seconds"]
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
            raise ValueError(
                f"interval_seconds must be a whole number of seconds >= 1, got {seconds!r}"
            )
        return IntervalSchedule(interval_seconds=seconds)
    if not isinstance(value, str):
        raise ValueError(f"schedule {value!r} is not a schedule; {_SCHEDULE_FORMS}")
    if value.startswith("@"):
        if value == "@continuous":
            raise ValueError(
                "schedule '@continuous' is not supported by Leoflow yet; use a cron expression "
                'or {"interval_seconds": N}'
            )
        if value not in PRESETS:
            raise ValueError(f"unknown schedule preset {value!r}; {_SCHEDULE_FORMS}")
        return value
    return validate_cron(value)


Schedule = Annotated[
    str | IntervalSchedule | None,
    BeforeValidator(_parse_schedule),
    Field(
        description=(
            "null = manual runs only; a preset (@once, @hourly, @daily, @weekly, @monthly, "
            "@quarterly, @yearly, @annually); a 5-field cron expression; or "
            '{"interval_seconds": N} for a fixed interval from start_date'
        )
    ),
]
"""The type of ``DagSpec.schedule`` (see the module docstring for the four forms)."""


def cron_of(schedule: str) -> str | None:
    """The cron expression a string schedule stands for; ``None`` for ``@once``."""
    if schedule == ONCE:
        return None
    return PRESET_CRON.get(schedule, schedule)


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone {name!r}; use an IANA zone name such as 'UTC', "
            "'Europe/Paris' or 'America/New_York'"
        ) from exc
    return name


Timezone = Annotated[str, AfterValidator(_check_timezone)]
"""An IANA timezone name that ``zoneinfo`` can load (``"UTC"``, ``"Europe/Paris"``)."""
