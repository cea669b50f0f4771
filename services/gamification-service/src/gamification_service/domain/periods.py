"""Leaderboard periods: UTC day, ISO week, month, and all time.

Keys sort chronologically as strings within a period type (``2026-05-01``, ``2026-W18``,
``2026-05``), which the wallet fold relies on to tell a new period from a late entry.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

Period = Literal["day", "week", "month", "all"]
PERIODS: Final[tuple[Period, ...]] = ("day", "week", "month", "all")
TIMED: Final[tuple[Period, ...]] = ("day", "week", "month")
# How long a finished period's board stays readable.
RETENTION: Final = {
    "day": timedelta(days=8),
    "week": timedelta(weeks=5),
    "month": timedelta(days=400),
}
_PATTERNS: Final = {
    "day": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "week": re.compile(r"^\d{4}-W\d{2}$"),
    "month": re.compile(r"^\d{4}-\d{2}$"),
    "all": re.compile(r"^all$"),
}


def period_key(period: Period, at: datetime) -> str:
    at = at.astimezone(UTC)
    if period == "day":
        return at.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return at.strftime("%Y-%m")
    return "all"


def period_range(period: Period, key: str) -> tuple[datetime, datetime] | None:
    """[start, end) of a period key; None for all time. ValueError if the key is malformed."""
    if not _PATTERNS[period].match(key):
        raise ValueError(f"{key!r} is not a {period} key")
    if period == "all":
        return None
    try:
        return _range(period, key)
    except (ValueError, OverflowError):  # 9999-12-31 has no next day to end on
        raise ValueError(f"{key!r} is not a {period} key") from None


def _range(period: Period, key: str) -> tuple[datetime, datetime]:
    if period == "day":
        start = datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=UTC)
        return start, start + timedelta(days=1)
    if period == "week":
        year, week = int(key[:4]), int(key[6:])
        day = date.fromisocalendar(year, week, 1)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start, start + timedelta(weeks=1)
    start = datetime.strptime(key, "%Y-%m").replace(tzinfo=UTC)
    nxt = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)
    return start, nxt


def expires_at(period: Period, key: str) -> datetime | None:
    """When a board for this period may be dropped (its end plus the retention)."""
    bounds = period_range(period, key)
    return None if bounds is None else bounds[1] + RETENTION[period]
