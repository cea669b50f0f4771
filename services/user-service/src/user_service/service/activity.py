"""Activity time-series: recording what the bus says people did (the recorder's sink) and
reading a person's own calendar, series and streaks in their time zone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from deepiri_kit import Invalid, utcnow
from deepiri_kit.contracts import Event
from deepiri_kit.events import Envelope
from user_service.domain import activity
from user_service.domain.accounts import check_time_zone
from user_service.store.activity import ActivityStore

Interval = Literal["day", "week"]
# The longest range one series request may span, by interval (a request, not a report job).
MAX_DAYS: dict[Interval, int] = {"day": 366, "week": 3 * 366}


@dataclass(frozen=True, slots=True)
class Calendar:
    time_zone: str
    first: date
    last: date
    days: list[tuple[date, int]]
    levels: dict[date, int]


@dataclass(frozen=True, slots=True)
class Series:
    time_zone: str
    interval: Interval
    first: date
    last: date
    buckets: list[tuple[date, int]]


class ActivityLog:
    def __init__(
        self,
        store: ActivityStore,
        zone_of: Callable[[str], Awaitable[str]],
        *,
        streak_days: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``zone_of`` answers a person's own time zone (their profile's); ``streak_days``
        bounds how far back the best streak is looked for (the bucket's retention)."""
        self.store = store
        self.zone_of = zone_of
        self.streak_days = streak_days
        self.clock = clock

    # --- recording (the recorder's sink) -----------------------------------------------

    async def record(self, events: Sequence[tuple[Envelope, Event]]) -> int:
        """Write the batch's activity points in one request; returns how many. Raises while
        InfluxDB does not take them (the recorder keeps the batch and tries again)."""
        points = [
            point
            for envelope, _ in events
            if (
                point := activity.to_point(
                    envelope.id, envelope.type, envelope.user_id or "", envelope.occurred_at
                )
            )
            is not None
        ]
        await self.store.write(points)
        return len(points)

    async def erase(self, user_id: str) -> None:
        """A deleted account's activity goes with it (raises while InfluxDB is away: the
        deletion answers 503 and its repetition erases again)."""
        await self.store.erase(user_id)

    # --- reading -------------------------------------------------------------------------

    async def zone(self, user_id: str, requested: str | None) -> ZoneInfo:
        """The zone asked for (an IANA name; anything else is a 422), else the person's own."""
        name = requested if requested is not None else await self.zone_of(user_id)
        return ZoneInfo(check_time_zone(name))  # an unknown name: 422 (InvalidAccount)

    async def _daily(
        self, user_id: str, zone: ZoneInfo, first: date, last: date
    ) -> list[tuple[date, int]]:
        start, stop = activity.local_span(first, last, zone)
        quarters = await self.store.quarter_hours(user_id, start, stop)
        return activity.daily_counts(quarters, zone, first, last)

    async def calendar(self, user_id: str, zone_name: str | None, last: date | None) -> Calendar:
        """The heatmap: 53 weeks of local days ending ``last`` (default: today there)."""
        zone = await self.zone(user_id, zone_name)
        last = last or activity.local_today(self.clock(), zone)
        first = last - timedelta(days=activity.CALENDAR_DAYS - 1)
        daily = await self._daily(user_id, zone, first, last)
        return Calendar(zone.key, first, last, daily, activity.levels(daily))

    async def series(
        self, user_id: str, zone_name: str | None, first: date, last: date, interval: Interval
    ) -> Series:
        if last < first:
            raise Invalid("the range ends before it starts", first=str(first), last=str(last))
        if (last - first).days + 1 > MAX_DAYS[interval]:
            raise Invalid(f"a {interval} series spans at most {MAX_DAYS[interval]} days")
        zone = await self.zone(user_id, zone_name)
        daily = await self._daily(user_id, zone, first, last)
        buckets = daily if interval == "day" else activity.weekly_counts(daily)
        return Series(zone.key, interval, first, last, buckets)

    async def streak(
        self, user_id: str, zone_name: str | None
    ) -> tuple[str, date, activity.Streak]:
        """(zone, today there, the streaks over the retained history)."""
        zone = await self.zone(user_id, zone_name)
        today = activity.local_today(self.clock(), zone)
        daily = await self._daily(
            user_id, zone, today - timedelta(days=self.streak_days - 1), today
        )
        return zone.key, today, activity.streaks((d for d, n in daily if n > 0), today)
