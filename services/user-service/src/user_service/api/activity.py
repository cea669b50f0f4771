"""``/api/users/activity``: the caller's own activity — the year's contribution calendar
(the heatmap), daily or weekly series for a range, and streaks — counted in local days of
the caller's time zone (their profile's, or ``tz``). Friends do not see each other's
activity here (profile visibility decides that, when it exists)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from user_service.api.accounts import READ, Caller, person
from user_service.schemas import (
    ActivityBucketOut,
    ActivityDayOut,
    CalendarOut,
    SeriesOut,
    StreakOut,
)
from user_service.service.activity import ActivityLog, Interval

Activity = NamedDependency[ActivityLog]
Zone = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=64,
        description="an IANA time zone (Europe/Paris); default: the caller's profile's",
    ),
]


class ActivityController(Controller):
    path = "/activity"
    tags = ["activity"]

    @get("/calendar", guards=READ)
    async def calendar(
        self,
        request: Caller,
        activity: Activity,
        tz: Zone = None,
        end: Annotated[
            date | None, QueryParameter(description="the last day shown (default: today)")
        ] = None,
    ) -> CalendarOut:
        """53 weeks of local days ending ``end``: each day's count of activity and its shade."""
        calendar = await activity.calendar(person(request), tz, end)
        return CalendarOut(
            time_zone=calendar.time_zone,
            start=calendar.first,
            end=calendar.last,
            total=sum(count for _, count in calendar.days),
            days=[
                ActivityDayOut(date=day, count=count, level=calendar.levels[day])
                for day, count in calendar.days
            ],
        )

    @get("/series", guards=READ)
    async def series(
        self,
        request: Caller,
        activity: Activity,
        start: Annotated[date, QueryParameter(description="the first local day")],
        end: Annotated[date, QueryParameter(description="the last local day (inclusive)")],
        interval: Annotated[
            Interval, QueryParameter(description="day, or week (ISO weeks, keyed by Monday)")
        ] = "day",
        tz: Zone = None,
    ) -> SeriesOut:
        """Activity per day or per week over ``start``..``end`` (at most 366 days by day,
        1098 by week; 422 beyond, or when the range ends before it starts)."""
        series = await activity.series(person(request), tz, start, end, interval)
        return SeriesOut(
            time_zone=series.time_zone,
            interval=series.interval,
            start=series.first,
            end=series.last,
            total=sum(count for _, count in series.buckets),
            buckets=[ActivityBucketOut(start=day, count=count) for day, count in series.buckets],
        )

    @get("/streak", guards=READ)
    async def streak(self, request: Caller, activity: Activity, tz: Zone = None) -> StreakOut:
        """The current and the best run of active local days."""
        zone, today, streak = await activity.streak(person(request), tz)
        return StreakOut(
            time_zone=zone,
            today=today,
            current=streak.current,
            best=streak.best,
            last_active=streak.last_active,
        )
