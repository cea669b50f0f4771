"""Activity time-series, the pure part: which events are activity, each event's point
identity, and the calendar, the daily/weekly series and the streaks in a person's zone.

A point is ``activity,user=<id>,kind=<event type> n=1i <time>``: both tags are bounded (an
account id and one of :data:`ACTIVITY_KINDS`; never free text). Its time is derived from
the event alone (:func:`point_time_ns`), so a redelivered or duplicated event writes the
*same* point again — InfluxDB keeps one point per series and time — and is counted once.

Days are counted in the person's zone: the store answers quarter-hour sums in UTC (every
zone's offset is a whole number of quarter hours), and :func:`daily_counts` puts each into
its local day, so a day across a DST change is 23 or 25 hours long, as it is to the person.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from deepiri_kit.contracts import gamification, skills, social, tasks

MEASUREMENT: Final = "activity"
FIELD: Final = "n"
# What a person did or achieved. Left out: consequences already counted as their cause
# (currency credited for a completion), and edges that are not activity (a removal, a block).
ACTIVITY_KINDS: Final = frozenset(
    {
        tasks.TASK_CREATED,
        tasks.TASK_UPDATED,
        tasks.TASK_COMPLETED,
        tasks.TASK_REOPENED,
        tasks.TASK_DELETED,
        gamification.CURRENCY_SPENT,
        gamification.LEVEL_UP,
        gamification.BADGE_AWARDED,
        gamification.RATING_CHANGED,
        skills.SKILL_LEVELED,
        skills.SKILL_UNLOCKED,
        social.FRIEND_ADDED,
    }
)
# Quarter hours: the store's aggregation window, fine enough for every zone's offset.
QUARTER: Final = timedelta(minutes=15)
CALENDAR_DAYS: Final = 371  # 53 weeks: the heatmap's full grid
# Nanoseconds since the epoch in a signed 64-bit integer: what InfluxDB stores.
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2262, 1, 1, tzinfo=UTC)
_NS: Final = 1_000_000_000


# What an erasure's predicate may hold: InfluxDB's delete API takes a predicate *text*, not
# parameters, so an id with anything that could end its quoted string is refused.
_PREDICATE_SAFE = re.compile(r"[A-Za-z0-9_.:@-]{1,200}")


def erase_predicate(user_id: str) -> str:
    """The delete predicate for every activity point of ``user_id`` (ValueError if the id
    could break out of its quotes)."""
    if not _PREDICATE_SAFE.fullmatch(user_id):
        raise ValueError(f"not an id this predicate may hold: {user_id!r}")
    # ``user`` is a keyword of the predicate language: the tag key is quoted.
    return f'_measurement="{MEASUREMENT}" AND "user"="{user_id}"'


@dataclass(frozen=True, slots=True)
class ActivityPoint:
    user_id: str
    kind: str
    time_ns: int


def point_time_ns(occurred_at: datetime, event_id: str) -> int:
    """The point's time: the event's second plus a sub-second offset from its id's digest.

    The same event always lands on the same nanosecond (a redelivery overwrites its point);
    two events of one person and kind in the same second collide only if their digests agree
    modulo 10^9. Staying inside its second, a point never changes local day (zone offsets
    are whole minutes)."""
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    seconds = int(occurred_at.timestamp() // 1)
    offset = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "big") % _NS
    return seconds * _NS + offset


def to_point(
    event_id: str, event_type: str, user_id: str, occurred_at: datetime
) -> ActivityPoint | None:
    """The point an event makes, or None when it is not activity (or has no person, or a
    time InfluxDB cannot hold)."""
    if event_type not in ACTIVITY_KINDS or not user_id:
        return None
    if not EPOCH <= occurred_at.replace(tzinfo=occurred_at.tzinfo or UTC) < LATEST:
        return None
    return ActivityPoint(user_id, event_type, point_time_ns(occurred_at, event_id))


def local_span(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, stop) in UTC covering local days ``first``..``last`` inclusive."""
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    stop = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, stop


def local_today(now: datetime, zone: ZoneInfo) -> date:
    return now.astimezone(zone).date()


def daily_counts(
    buckets: Iterable[tuple[datetime, int]], zone: ZoneInfo, first: date, last: date
) -> list[tuple[date, int]]:
    """Every local day ``first``..``last`` with the sum of the buckets starting in it (days
    without activity count 0). Buckets outside the days are ignored."""
    counts = dict.fromkeys(days(first, last), 0)
    for start, count in buckets:
        day = start.astimezone(zone).date()
        if day in counts:
            counts[day] += count
    return list(counts.items())


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def weekly_counts(daily: Iterable[tuple[date, int]]) -> list[tuple[date, int]]:
    """Daily counts summed per ISO week (Monday first), keyed by the week's Monday; a range
    starting mid-week gives a first (and last) week that is partial."""
    weeks: dict[date, int] = {}
    for day, count in daily:
        monday = week_start(day)
        weeks[monday] = weeks.get(monday, 0) + count
    return sorted(weeks.items())


def levels(daily: Iterable[tuple[date, int]]) -> dict[date, int]:
    """The heatmap's shade per day, 0 to 4: 0 without activity, else the quartile of the day's
    count among the active days' counts (GitHub's scheme): above none of the quartiles 1,
    above all three 4."""
    items = list(daily)
    active = sorted(count for _, count in items if count > 0)
    if not active:
        return {day: 0 for day, _ in items}
    cuts = [active[((len(active) - 1) * q) // 4] for q in (1, 2, 3)]
    return {day: 0 if count == 0 else 1 + sum(count > cut for cut in cuts) for day, count in items}


@dataclass(frozen=True, slots=True)
class Streak:
    current: int
    best: int
    last_active: date | None


def streaks(active_days: Iterable[date], today: date) -> Streak:
    """Consecutive active local days. The current streak ends today, or yesterday while today
    has no activity yet (it is not broken before the day is over); days after ``today`` (a
    clock ahead elsewhere) are ignored."""
    ordered = sorted({d for d in active_days if d <= today})
    best = run = 0
    previous: date | None = None
    for day in ordered:
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        best = max(best, run)
        previous = day
    last = ordered[-1] if ordered else None
    current = run if last is not None and today - last <= timedelta(days=1) else 0
    return Streak(current=current, best=best, last_active=last)
