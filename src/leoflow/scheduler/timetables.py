"""When scheduled runs happen: Airflow 3's trigger timetables as pure functions.

Airflow 3 defaults to *trigger* semantics for cron expressions, presets and ``timedelta``
schedules (``CronTriggerTimetable`` / ``DeltaTriggerTimetable``): a run's ``logical_date`` and
``run_after`` are the moment it fires, and its data interval is that single instant. Cron
expressions are evaluated in the DAG's timezone (so ``0 2 * * *`` fires at 02:00 local time
across DST changes). ``catchup=True`` creates every missed slot from ``start_date``;
``catchup=False`` (Airflow 3's default) creates only the most recent slot. ``end_date`` stops
scheduling; ``@once`` runs once at ``start_date``; ``None`` means manual runs only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from leoflow.spec import PRESET_CRON


@dataclass(frozen=True, slots=True)
class RunSlot:
    """One scheduled run: when it fires and which data interval it covers."""

    logical_date: datetime
    run_after: datetime
    data_interval_start: datetime
    data_interval_end: datetime


def _trigger_slot(at: datetime) -> RunSlot:
    at = at.astimezone(UTC)
    return RunSlot(logical_date=at, run_after=at, data_interval_start=at, data_interval_end=at)


class CronTimetable:
    """A cron expression (or preset) evaluated in a timezone, with trigger semantics."""

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        self.expression = PRESET_CRON.get(expression, expression)
        if not croniter.is_valid(self.expression):
            raise ValueError(f"invalid cron expression {expression!r}")
        self.tz = ZoneInfo(timezone)

    def next_fire_after(self, moment: datetime) -> datetime:
        """First fire time strictly after ``moment``."""
        local = moment.astimezone(self.tz)
        nxt: datetime = croniter(self.expression, local).get_next(datetime)
        return nxt.astimezone(UTC)

    def align_to_next(self, moment: datetime) -> datetime:
        """``moment`` itself when it is a fire time, else the next fire time."""
        if croniter.match(self.expression, moment.astimezone(self.tz)):
            return moment.astimezone(UTC)
        return self.next_fire_after(moment)

    def align_to_prev(self, moment: datetime) -> datetime:
        """``moment`` itself when it is a fire time, else the previous fire time."""
        local = moment.astimezone(self.tz)
        if croniter.match(self.expression, local):
            return moment.astimezone(UTC)
        prev: datetime = croniter(self.expression, local).get_prev(datetime)
        return prev.astimezone(UTC)


class DeltaTimetable:
    """Every fixed ``timedelta`` from ``start_date``, with trigger semantics."""

    def __init__(self, interval: timedelta, anchor: datetime) -> None:
        if interval <= timedelta(0):
            raise ValueError("a timedelta schedule must be positive")
        self.interval = interval
        self.anchor = anchor

    def next_fire_after(self, moment: datetime) -> datetime:
        if moment < self.anchor:
            return self.anchor
        steps = (moment - self.anchor) // self.interval + 1
        return self.anchor + steps * self.interval

    def align_to_next(self, moment: datetime) -> datetime:
        if moment <= self.anchor:
            return self.anchor
        return self.align_to_prev(moment) if self._on_grid(moment) else self.next_fire_after(moment)

    def align_to_prev(self, moment: datetime) -> datetime:
        steps = (moment - self.anchor) // self.interval
        return self.anchor + steps * self.interval

    def _on_grid(self, moment: datetime) -> bool:
        return (moment - self.anchor) % self.interval == timedelta(0)


Timetable = CronTimetable | DeltaTimetable


@dataclass(frozen=True, slots=True)
class ScheduleRestriction:
    """The DAG's limits on scheduled runs."""

    start_date: datetime | None
    end_date: datetime | None
    catchup: bool


def next_run(
    timetable: Timetable,
    restriction: ScheduleRestriction,
    last_logical_date: datetime | None,
    now: datetime,
) -> RunSlot | None:
    """The next scheduled run to create, or ``None`` when nothing is due (ever, or yet).

    ``last_logical_date`` is the logical date of the latest *scheduled* run (manual runs do
    not move the schedule). The caller creates the returned run only once ``run_after <= now``.
    """
    if restriction.start_date is None:
        return None
    if last_logical_date is not None:
        candidate = timetable.next_fire_after(last_logical_date)
    else:
        candidate = timetable.align_to_next(restriction.start_date)
    if not restriction.catchup:
        latest_due = timetable.align_to_prev(now)
        if latest_due >= restriction.start_date:
            candidate = max(candidate, latest_due)
    if restriction.end_date is not None and candidate > restriction.end_date:
        return None
    return _trigger_slot(candidate)


def next_once_run(start_date: datetime | None, already_ran: bool) -> RunSlot | None:
    """``@once``: a single run at ``start_date``."""
    if start_date is None or already_ran:
        return None
    return _trigger_slot(start_date)


def due_runs(
    timetable: Timetable,
    restriction: ScheduleRestriction,
    last_logical_date: datetime | None,
    now: datetime,
    limit: int = 1000,
) -> list[RunSlot]:
    """Every run that should exist by ``now`` after ``last_logical_date`` (catch-up order)."""
    slots: list[RunSlot] = []
    last = last_logical_date
    while len(slots) < limit:
        slot = next_run(timetable, restriction, last, now)
        if slot is None or slot.run_after > now:
            break
        slots.append(slot)
        last = slot.logical_date
    return slots
