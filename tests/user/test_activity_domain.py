"""Activity's pure rules: point identity, local days across DST, weeks, shades, streaks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from user_service.domain import activity

pytestmark = pytest.mark.unit

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # +05:45: quarter hours, not whole hours


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_point_is_the_same_for_the_same_event_and_distinct_for_others() -> None:
    at = utc(2026, 3, 8, 12, 0, 0)
    first = activity.point_time_ns(at, "evt-1")
    assert activity.point_time_ns(at, "evt-1") == first  # a redelivery: the same point
    others = {activity.point_time_ns(at, f"evt-{i}") for i in range(2, 2000)}
    assert first not in others
    assert len(others) == 1998
    # The offset stays inside the event's second (so inside its local day).
    assert first // 1_000_000_000 == int(at.timestamp())
    late = utc(2026, 3, 8, 23, 59, 59)
    assert activity.point_time_ns(late, "x") < int(utc(2026, 3, 9).timestamp()) * 10**9


def test_only_activity_with_a_person_becomes_a_point() -> None:
    at = utc(2026, 1, 1)
    point = activity.to_point("e", "task.completed", "alice", at)
    assert point == activity.ActivityPoint("alice", "task.completed", point.time_ns if point else 0)
    assert activity.to_point("e", "gamification.currency_credited", "alice", at) is None
    assert activity.to_point("e", "social.blocked", "alice", at) is None
    assert activity.to_point("e", "task.completed", "", at) is None
    assert activity.to_point("e", "task.completed", "alice", utc(9999, 1, 1)) is None


def test_local_span_covers_whole_local_days_across_dst() -> None:
    # Paris springs forward on 2026-03-29: that day is 23 hours long.
    start, stop = activity.local_span(date(2026, 3, 29), date(2026, 3, 29), PARIS)
    assert start == utc(2026, 3, 28, 23)
    assert stop == utc(2026, 3, 29, 22)
    assert stop - start == timedelta(hours=23)
    # ... and falls back on 2026-10-25: 25 hours.
    start, stop = activity.local_span(date(2026, 10, 25), date(2026, 10, 25), PARIS)
    assert stop - start == timedelta(hours=25)


def test_daily_counts_put_quarters_into_local_days_across_dst() -> None:
    # New York springs forward on 2026-03-08 (02:00 EST → 03:00 EDT).
    quarters = [
        (utc(2026, 3, 8, 4, 45), 1),  # 23:45 EST on the 7th
        (utc(2026, 3, 8, 5, 0), 2),  # 00:00 EST on the 8th
        (utc(2026, 3, 9, 3, 45), 3),  # 23:45 EDT on the 8th (EST would say the 8th 22:45)
        (utc(2026, 3, 9, 4, 0), 4),  # 00:00 EDT on the 9th (EST would still say the 8th)
        (utc(2026, 1, 1), 100),  # outside the days asked for: ignored
    ]
    daily = activity.daily_counts(quarters, NEW_YORK, date(2026, 3, 7), date(2026, 3, 10))
    assert daily == [
        (date(2026, 3, 7), 1),
        (date(2026, 3, 8), 5),
        (date(2026, 3, 9), 4),
        (date(2026, 3, 10), 0),
    ]


def test_daily_counts_in_a_quarter_hour_zone() -> None:
    # Kathmandu is UTC+05:45: 18:15 UTC is 00:00 the next day there.
    quarters = [(utc(2026, 5, 1, 18, 0), 1), (utc(2026, 5, 1, 18, 15), 1)]
    daily = activity.daily_counts(quarters, KATHMANDU, date(2026, 5, 1), date(2026, 5, 2))
    assert daily == [(date(2026, 5, 1), 1), (date(2026, 5, 2), 1)]


def test_weekly_counts_are_iso_weeks_keyed_by_monday() -> None:
    days = activity.days(date(2026, 3, 4), date(2026, 3, 17))  # a Wednesday to a Tuesday
    daily = [(d, i + 1) for i, d in enumerate(days)]
    weekly = activity.weekly_counts(daily)
    assert weekly == [
        (date(2026, 3, 2), 1 + 2 + 3 + 4 + 5),  # Wed..Sun: a partial first week
        (date(2026, 3, 9), sum(range(6, 13))),
        (date(2026, 3, 16), 13 + 14),  # Mon, Tue: a partial last week
    ]
    assert sum(n for _, n in weekly) == sum(n for _, n in daily)


def test_levels_are_quartiles_of_active_days() -> None:
    days = activity.days(date(2026, 1, 1), date(2026, 1, 5))
    shades = activity.levels(list(zip(days, [0, 1, 2, 3, 4], strict=True)))
    assert [shades[d] for d in days] == [0, 1, 2, 3, 4]
    same = activity.levels([(days[0], 5), (days[1], 5), (days[2], 0)])
    assert [same[d] for d in days[:3]] == [1, 1, 0]
    assert set(activity.levels([(d, 0) for d in days]).values()) == {0}


@pytest.mark.parametrize(
    ("active", "today", "current", "best"),
    [
        ([], date(2026, 5, 10), 0, 0),
        ([date(2026, 5, 10)], date(2026, 5, 10), 1, 1),
        # Today not active yet: the run ending yesterday still stands.
        ([date(2026, 5, 8), date(2026, 5, 9)], date(2026, 5, 10), 2, 2),
        # Two days without: broken.
        ([date(2026, 5, 7), date(2026, 5, 8)], date(2026, 5, 10), 0, 2),
        # The best run is an older one.
        (
            [date(2026, 4, d) for d in (1, 2, 3, 4, 5)] + [date(2026, 5, 9), date(2026, 5, 10)],
            date(2026, 5, 10),
            2,
            5,
        ),
        # A month boundary and a leap day are just days.
        ([date(2028, 2, 28), date(2028, 2, 29), date(2028, 3, 1)], date(2028, 3, 1), 3, 3),
        # Days after today (a clock ahead elsewhere) do not count.
        ([date(2026, 5, 10), date(2026, 5, 11)], date(2026, 5, 10), 1, 1),
    ],
)
def test_streaks(active: list[date], today: date, current: int, best: int) -> None:
    streak = activity.streaks(active, today)
    assert (streak.current, streak.best) == (current, best)


def test_a_streak_across_dst_counts_local_days() -> None:
    """Activity every local evening across Paris's spring change is an unbroken run, though
    one of those days is 23 hours long."""
    first, last = date(2026, 3, 26), date(2026, 4, 1)
    quarters = [
        (datetime.combine(d, datetime.min.time(), PARIS).replace(hour=23, minute=30), 1)
        for d in activity.days(first, last)
    ]
    daily = activity.daily_counts([(t.astimezone(UTC), n) for t, n in quarters], PARIS, first, last)
    assert all(n == 1 for _, n in daily)
    streak = activity.streaks((d for d, n in daily if n), last)
    assert (streak.current, streak.best, streak.last_active) == (7, 7, last)


def test_an_erasure_predicate_holds_only_safe_ids() -> None:
    assert activity.erase_predicate("0f3a9c") == '_measurement="activity" AND "user"="0f3a9c"'
    for hostile in ['a" OR user="b', "a\\", "", "x" * 201, "a b"]:
        with pytest.raises(ValueError, match="not an id"):
            activity.erase_predicate(hostile)
