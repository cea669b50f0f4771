"""Daily schedules, periods and streaks in the user's time zone (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from task_service.domain import schedules
from task_service.domain.schedules import EveryNDays, ScheduleError, Weekly

pytestmark = pytest.mark.unit

MON_WED_FRI = schedules.parse({"type": "weekly", "days": ["fri", "mon", "wed"]})
EVERY_3 = schedules.parse({"type": "every", "every_days": 3, "start_date": "2026-03-02"})


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_parse_and_normalize() -> None:
    assert Weekly(frozenset({0, 2, 4})) == MON_WED_FRI
    assert EveryNDays(3, d("2026-03-02")) == EVERY_3
    assert schedules.normalized({"type": "weekly", "days": ["sun", "mon", "sun"]}) == {
        "type": "weekly",
        "days": ["mon", "sun"],
    }
    assert schedules.normalized(
        {"type": "every", "every_days": 2, "start_date": date(2026, 1, 1)}
    ) == {"type": "every", "every_days": 2, "start_date": "2026-01-01"}


@pytest.mark.parametrize(
    "document",
    [
        {"type": "weekly", "days": []},
        {"type": "weekly", "days": ["monday"]},
        {"type": "every", "every_days": 0, "start_date": "2026-01-01"},
        {"type": "every", "every_days": 366, "start_date": "2026-01-01"},
        {"type": "every", "every_days": 2, "start_date": "2026-02-30"},
        {"type": "monthly"},
    ],
)
def test_invalid_schedules_are_refused(document: dict[str, object]) -> None:
    with pytest.raises(ScheduleError):
        schedules.parse(document)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "/etc/localtime", "", "x" * 65])
def test_unknown_time_zones_are_refused(name: str) -> None:
    with pytest.raises(ScheduleError):
        schedules.zone(name)


def test_weekly_periods_run_until_the_next_scheduled_day() -> None:
    # 2026-03-02 is a Monday.
    assert schedules.period_start(MON_WED_FRI, d("2026-03-02")) == d("2026-03-02")
    assert schedules.period_start(MON_WED_FRI, d("2026-03-03")) == d("2026-03-02")  # Tue
    assert schedules.period_start(MON_WED_FRI, d("2026-03-04")) == d("2026-03-04")  # Wed
    assert schedules.period_start(MON_WED_FRI, d("2026-03-08")) == d("2026-03-06")  # Sun→Fri
    assert schedules.previous_period(MON_WED_FRI, d("2026-03-02")) == d("2026-02-27")
    assert schedules.next_period(MON_WED_FRI, d("2026-03-06")) == d("2026-03-09")


def test_every_n_days_periods_count_from_the_start_date() -> None:
    assert schedules.period_start(EVERY_3, d("2026-03-01")) is None  # before the start
    assert schedules.period_start(EVERY_3, d("2026-03-02")) == d("2026-03-02")
    assert schedules.period_start(EVERY_3, d("2026-03-04")) == d("2026-03-02")
    assert schedules.period_start(EVERY_3, d("2026-03-05")) == d("2026-03-05")
    assert schedules.previous_period(EVERY_3, d("2026-03-05")) == d("2026-03-02")
    assert schedules.previous_period(EVERY_3, d("2026-03-02")) is None
    assert schedules.next_period(EVERY_3, d("2026-03-05")) == d("2026-03-08")


def test_local_date_uses_the_users_time_zone() -> None:
    instant = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # Monday 23:30 UTC
    assert schedules.local_date(instant, "UTC") == d("2026-03-02")
    assert schedules.local_date(instant, "Asia/Tokyo") == d("2026-03-03")  # already Tuesday
    assert schedules.local_date(instant, "America/Los_Angeles") == d("2026-03-02")
    early = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert schedules.local_date(early, "America/Los_Angeles") == d("2026-03-01")  # Sunday


def test_day_end_is_local_midnight_even_across_dst() -> None:
    # US DST starts 2026-03-08: that local day is 23 hours long.
    end = schedules.day_end(d("2026-03-08"), "America/New_York")
    assert end.astimezone(UTC) == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)
    assert schedules.day_end(d("2026-03-07"), "America/New_York").astimezone(UTC) == datetime(
        2026, 3, 8, 5, 0, tzinfo=UTC
    )


def test_consecutive_periods_extend_the_streak_and_a_gap_restarts_it() -> None:
    streak = schedules.advance_streak(None, MON_WED_FRI, d("2026-03-02"))
    assert streak == {"current": 1, "best": 1, "last_period": "2026-03-02"}
    streak = schedules.advance_streak(streak, MON_WED_FRI, d("2026-03-04"))
    streak = schedules.advance_streak(streak, MON_WED_FRI, d("2026-03-06"))
    assert streak == {"current": 3, "best": 3, "last_period": "2026-03-06"}
    # Monday 9th missed, Wednesday 11th completed: the streak starts again, best is kept.
    streak = schedules.advance_streak(streak, MON_WED_FRI, d("2026-03-11"))
    assert streak == {"current": 1, "best": 3, "last_period": "2026-03-11"}


def test_every_n_days_streak() -> None:
    streak = schedules.advance_streak(None, EVERY_3, d("2026-03-02"))
    streak = schedules.advance_streak(streak, EVERY_3, d("2026-03-05"))
    assert streak["current"] == 2
    streak = schedules.advance_streak(streak, EVERY_3, d("2026-03-11"))  # the 8th was missed
    assert streak == {"current": 1, "best": 2, "last_period": "2026-03-11"}


def test_live_streak_breaks_once_a_period_passes_without_completion() -> None:
    streak = {"current": 4, "best": 6, "last_period": "2026-03-04"}  # a Wednesday
    assert schedules.live_streak(streak, MON_WED_FRI, d("2026-03-04")) == 4  # done today
    assert schedules.live_streak(streak, MON_WED_FRI, d("2026-03-05")) == 4  # Thu: same period
    assert schedules.live_streak(streak, MON_WED_FRI, d("2026-03-06")) == 4  # Fri: still open
    assert schedules.live_streak(streak, MON_WED_FRI, d("2026-03-07")) == 4  # Sat: Fri's period
    assert schedules.live_streak(streak, MON_WED_FRI, d("2026-03-09")) == 0  # Fri was missed
    assert schedules.live_streak(None, MON_WED_FRI, d("2026-03-09")) == 0
    assert schedules.live_streak(streak, EVERY_3, d("2026-03-01")) == 0  # before the schedule


def test_paid_periods_only_move_forward_and_pay_at_most_once_a_day() -> None:
    paid = schedules.Paid(period=d("2026-03-04"), on=d("2026-03-04"))
    assert schedules.payable(d("2026-03-04"), d("2026-03-03"), None)  # nothing paid yet
    # The next period, on a later local date: a new day.
    assert schedules.payable(d("2026-03-05"), d("2026-03-05"), paid)
    # An earlier period (the time zone moved west across midnight): never.
    assert not schedules.payable(d("2026-03-03"), d("2026-03-03"), paid)
    # A later period on the same local date (the schedule was changed): not twice in a day.
    assert not schedules.payable(d("2026-03-05"), d("2026-03-04"), paid)
    # The paid period itself again (after a reopen): same period key, so it pays once.
    assert schedules.payable(d("2026-03-04"), d("2026-03-04"), paid)
    # A weekly period paid late is still paid: its later days open nothing new.
    late = schedules.Paid(period=d("2026-03-02"), on=d("2026-03-03"))
    assert not schedules.payable(d("2026-03-03"), d("2026-03-03"), late)
    assert schedules.payable(d("2026-03-04"), d("2026-03-04"), late)
