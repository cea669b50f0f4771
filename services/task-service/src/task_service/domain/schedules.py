"""Dailies: schedules, periods and streaks, all in the user's time zone.

A schedule names the local dates a daily is due on: some days of the week, or every N days
from a start date. A *period* runs from one scheduled date up to (not including) the next,
and is named by its first date (ISO ``YYYY-MM-DD``). A daily completes at most once per
period; completing period P right after completing the period before P extends the streak,
anything else starts it again at 1, and a period that passes without a completion breaks it.

Paid periods only move forward (:func:`payable`): a time-zone or schedule change can never
reopen a period that was already paid, nor one before it, nor pay twice on one local date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_EVERY_DAYS = 365


class ScheduleError(ValueError):
    """A schedule or time zone that cannot describe a real daily."""


@dataclass(frozen=True)
class Weekly:
    days: frozenset[int]  # 0 = Monday, as date.weekday()


@dataclass(frozen=True)
class EveryNDays:
    every_days: int
    start_date: date


Schedule = Weekly | EveryNDays


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ScheduleError when it does not exist."""
    # ZoneInfo accepts relative paths such as "../x": refuse anything but plain zone names.
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        raise ScheduleError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


def parse(document: dict[str, Any]) -> Schedule:
    """The stored form (``{"type": "weekly", "days": [...]}`` or ``{"type": "every", ...}``)."""
    kind = document.get("type")
    if kind == "weekly":
        names = document.get("days") or []
        if not names:
            raise ScheduleError("a weekly schedule needs at least one day")
        unknown = [d for d in names if d not in WEEKDAYS]
        if unknown:
            raise ScheduleError(f"unknown weekday(s): {unknown}")
        return Weekly(frozenset(WEEKDAYS.index(d) for d in names))
    if kind == "every":
        every = document.get("every_days")
        if not isinstance(every, int) or not 1 <= every <= MAX_EVERY_DAYS:
            raise ScheduleError(f"every_days must be between 1 and {MAX_EVERY_DAYS}")
        try:
            start = date.fromisoformat(str(document.get("start_date")))
        except ValueError:
            raise ScheduleError("start_date must be a date (YYYY-MM-DD)") from None
        return EveryNDays(every, start)
    raise ScheduleError("schedule type must be 'weekly' or 'every'")


def normalized(document: dict[str, Any]) -> dict[str, Any]:
    """The canonical stored form: weekdays de-duplicated and in week order."""
    schedule = parse(document)
    if isinstance(schedule, Weekly):
        return {"type": "weekly", "days": [WEEKDAYS[d] for d in sorted(schedule.days)]}
    return {
        "type": "every",
        "every_days": schedule.every_days,
        "start_date": schedule.start_date.isoformat(),
    }


def local_date(instant: datetime, tz: str) -> date:
    return instant.astimezone(zone(tz)).date()


def period_start(schedule: Schedule, on: date) -> date | None:
    """The period containing local date ``on`` (its first date); None before the schedule starts."""
    if isinstance(schedule, Weekly):
        for back in range(7):
            candidate = on - timedelta(days=back)
            if candidate.weekday() in schedule.days:
                return candidate
        raise AssertionError("a weekly schedule has at least one day")  # parse() guarantees it
    if on < schedule.start_date:
        return None
    elapsed = (on - schedule.start_date).days
    return schedule.start_date + timedelta(days=elapsed - elapsed % schedule.every_days)


def previous_period(schedule: Schedule, period: date) -> date | None:
    return period_start(schedule, period - timedelta(days=1))


def next_period(schedule: Schedule, period: date) -> date:
    if isinstance(schedule, Weekly):
        for ahead in range(1, 8):
            candidate = period + timedelta(days=ahead)
            if candidate.weekday() in schedule.days:
                return candidate
        raise AssertionError("a weekly schedule has at least one day")
    return period + timedelta(days=schedule.every_days)


@dataclass(frozen=True)
class Paid:
    """The last period a daily was paid for, and the local date (in the time zone of that
    moment) on which it was paid. Reopening does not undo it: the reward stays paid."""

    period: date
    on: date


def payable(period: date, today: date, paid: Paid | None) -> bool:
    """Whether completing ``period`` on local date ``today`` may be announced for payment.

    The rule, as a user would put it: *a daily pays once per period and at most once a day,
    and it never goes back.* So a completion pays only for a period that starts after the
    last paid one, on a local date after the one it was last paid on. Moving the time zone
    west across midnight (``Etc/GMT+12``) or moving an every-N-days start date back lands in
    an earlier period — refused, however the calendar reads in the new zone; moving east
    into a new local day is a new day, as it is for a traveller. Redoing the paid period
    itself after a reopen is allowed: it carries the same period key, which pays once.
    """
    if paid is None or period == paid.period:
        return True
    return period > paid.period and today > paid.on


def day_end(day: date, tz: str) -> datetime:
    """The instant the local date ``day`` ends (next local midnight), as an aware datetime."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone(tz))


def advance_streak(
    streak: dict[str, Any] | None, schedule: Schedule, period: date
) -> dict[str, Any]:
    """The streak after completing ``period`` (which must not be the last completed one)."""
    current = int(streak["current"]) if streak else 0
    best = int(streak["best"]) if streak else 0
    last = streak.get("last_period") if streak else None
    before = previous_period(schedule, period)
    current = (
        current + 1 if last is not None and before is not None and last == before.isoformat() else 1
    )
    return {"current": current, "best": max(best, current), "last_period": period.isoformat()}


def live_streak(streak: dict[str, Any] | None, schedule: Schedule, today: date) -> int:
    """The streak as it stands on ``today``: kept while the last completed period is this
    period or the one before it (still completable), broken (0) once a period was missed."""
    if not streak or not streak.get("last_period"):
        return 0
    current_period = period_start(schedule, today)
    if current_period is None:
        return 0
    before = previous_period(schedule, current_period)
    alive = {current_period.isoformat(), before.isoformat() if before else None}
    return int(streak["current"]) if streak["last_period"] in alive else 0
