"""Timetables: cron and presets in a timezone (including DST), timedelta, @once, catchup,
start and end dates — Airflow 3 trigger semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leoflow.scheduler.timetables import (
    CronTimetable,
    DeltaTimetable,
    ScheduleRestriction,
    due_runs,
    next_once_run,
    next_run,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daily_preset_with_catchup_creates_every_missed_slot() -> None:
    tt = CronTimetable("@daily")
    restriction = ScheduleRestriction(start_date=utc(2026, 1, 1), end_date=None, catchup=True)
    slots = due_runs(tt, restriction, None, now=utc(2026, 1, 4, 12))
    assert [s.logical_date for s in slots] == [utc(2026, 1, d) for d in (1, 2, 3, 4)]
    assert all(s.run_after == s.logical_date == s.data_interval_end for s in slots)


def test_without_catchup_only_the_latest_slot_runs() -> None:
    tt = CronTimetable("@daily")
    restriction = ScheduleRestriction(start_date=utc(2026, 1, 1), end_date=None, catchup=False)
    slots = due_runs(tt, restriction, None, now=utc(2026, 1, 4, 12))
    assert [s.logical_date for s in slots] == [utc(2026, 1, 4)]


def test_next_slot_is_in_the_future_until_due() -> None:
    tt = CronTimetable("30 6 * * *")
    restriction = ScheduleRestriction(start_date=utc(2026, 1, 1), end_date=None, catchup=False)
    slot = next_run(tt, restriction, utc(2026, 1, 4, 6, 30), now=utc(2026, 1, 4, 12))
    assert slot is not None
    assert slot.run_after == utc(2026, 1, 5, 6, 30)
    assert due_runs(tt, restriction, utc(2026, 1, 4, 6, 30), now=utc(2026, 1, 4, 12)) == []


def test_start_date_in_the_future_schedules_nothing_yet() -> None:
    tt = CronTimetable("@hourly")
    restriction = ScheduleRestriction(start_date=utc(2027, 1, 1), end_date=None, catchup=False)
    assert due_runs(tt, restriction, None, now=utc(2026, 6, 1)) == []
    slot = next_run(tt, restriction, None, now=utc(2026, 6, 1))
    assert slot is not None and slot.logical_date == utc(2027, 1, 1)


def test_end_date_stops_scheduling() -> None:
    tt = CronTimetable("@daily")
    restriction = ScheduleRestriction(
        start_date=utc(2026, 1, 1), end_date=utc(2026, 1, 2, 12), catchup=True
    )
    slots = due_runs(tt, restriction, None, now=utc(2026, 2, 1))
    assert [s.logical_date for s in slots] == [utc(2026, 1, 1), utc(2026, 1, 2)]


def test_cron_follows_local_time_across_dst() -> None:
    # 08:00 in Berlin is 07:00 UTC in winter and 06:00 UTC in summer (DST from 2026-03-29).
    tt = CronTimetable("0 8 * * *", "Europe/Berlin")
    restriction = ScheduleRestriction(start_date=utc(2026, 3, 27), end_date=None, catchup=True)
    slots = due_runs(tt, restriction, None, now=utc(2026, 3, 31))
    assert [s.logical_date for s in slots] == [
        utc(2026, 3, 27, 7),
        utc(2026, 3, 28, 7),
        utc(2026, 3, 29, 6),
        utc(2026, 3, 30, 6),
    ]


def test_cron_in_a_timezone_not_utc() -> None:
    tt = CronTimetable("0 0 * * *", "America/New_York")
    assert tt.next_fire_after(utc(2026, 1, 1, 12)) == utc(2026, 1, 2, 5)


def test_timedelta_schedule_is_anchored_at_start_date() -> None:
    tt = DeltaTimetable(timedelta(hours=6), anchor=utc(2026, 1, 1, 1))
    restriction = ScheduleRestriction(start_date=utc(2026, 1, 1, 1), end_date=None, catchup=True)
    slots = due_runs(tt, restriction, None, now=utc(2026, 1, 1, 14))
    assert [s.logical_date for s in slots] == [utc(2026, 1, 1, h) for h in (1, 7, 13)]
    no_catchup = ScheduleRestriction(start_date=utc(2026, 1, 1, 1), end_date=None, catchup=False)
    assert [s.logical_date for s in due_runs(tt, no_catchup, None, utc(2026, 1, 1, 14))] == [
        utc(2026, 1, 1, 13)
    ]


def test_once_runs_a_single_time_at_start_date() -> None:
    slot = next_once_run(utc(2026, 5, 1), already_ran=False)
    assert slot is not None and slot.logical_date == utc(2026, 5, 1)
    assert next_once_run(utc(2026, 5, 1), already_ran=True) is None
    assert next_once_run(None, already_ran=False) is None


def test_no_start_date_means_no_scheduled_runs() -> None:
    restriction = ScheduleRestriction(start_date=None, end_date=None, catchup=False)
    assert next_run(CronTimetable("@daily"), restriction, None, utc(2026, 1, 1)) is None


def test_invalid_cron_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid cron"):
        CronTimetable("61 * * * *")
