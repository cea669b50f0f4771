"""Activity time-series on real InfluxDB, Redis and FerretDB: events on the bus become points
exactly once (duplicated on the bus, redelivered after a crash before the ack), the calendar,
series and streaks in a zone, Flux parameters that no input can turn into Flux, the
bucket's retention, and an InfluxDB outage that loses and doubles nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from deepiri_kit.contracts import Event, gamification, skills, social, tasks
from deepiri_kit.events import Envelope, EventBus, event_envelope
from infra import InfluxServer
from support.servers import OwnServers
from support.tokens import TokenIssuer
from support.users import PREFIX, client_of, register, task_completed
from support.waiting import eventually
from user_service.app import create_app
from user_service.domain.activity import ActivityPoint, point_time_ns
from user_service.events.activity import GROUP, recorder
from user_service.service.activity import ActivityLog
from user_service.settings import UserSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
ACTIVITY = f"{PREFIX}/activity"
READ = "users:read"
STREAMS = [s.STREAM.name for s in (tasks, gamification, skills, social)]


def someone() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"


def envelope(event: Event, user_id: str, event_id: str | None = None) -> Envelope:
    return event_envelope(event, source="test", user_id=user_id, event_id=event_id)


def a_day_of_events(user: str) -> list[tuple[str, Envelope]]:
    """(stream, event): five activities and one consequence that is not activity."""
    return [
        ("events.tasks", task_completed(user, task_id="t1", event_id=f"{user}:done:1")),
        ("events.tasks", task_completed(user, task_id="t2", event_id=f"{user}:done:2")),
        (
            "events.tasks",
            envelope(
                tasks.TaskCreated(
                    task_id="t3",
                    version=1,
                    kind="todo",
                    title="free text never becomes a tag",
                    difficulty="easy",
                    priority="normal",
                ),
                user,
            ),
        ),
        (
            "events.skills",
            envelope(
                skills.SkillLeveled(
                    user_id=user,
                    skill_id="focus",
                    category="productivity",
                    level=2,
                    previous_level=1,
                    xp=1000,
                    points_granted=1,
                    points=1,
                ),
                user,
            ),
        ),
        ("events.social", envelope(social.FriendAdded(user_id=user, friend_id="bob"), user)),
        (
            "events.gamification",
            envelope(
                gamification.CurrencyCredited(
                    user_id=user,
                    entry_key="k",
                    kind="earn",
                    amounts={"xp": 10},
                    balances={"xp": 10},
                    level=1,
                ),
                user,
            ),
        ),
    ]


async def all_recorded(redis: Any, group: str = GROUP) -> bool:
    for stream in STREAMS:
        groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
        found = groups.get(group)
        if not found or found["pending"] or found["lag"]:
            return False
    return True


async def calendar(
    client: httpx.AsyncClient, issuer: TokenIssuer, user: str, **query: str
) -> dict[str, Any]:
    response = await client.get(
        f"{ACTIVITY}/calendar", params={"tz": "UTC", **query}, headers=issuer.headers(user, READ)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def count_on(body: dict[str, Any], day: date) -> int:
    found = [d["count"] for d in body["days"] if d["date"] == day.isoformat()]
    assert len(found) == 1
    return int(found[0])


def count_on_days_of(body: dict[str, Any], events: Sequence[Envelope]) -> int:
    """The count on the day(s) the events happened (by their own time, as the service
    buckets them: a run at midnight puts them on two days, none of them "today")."""
    days = {event.occurred_at.astimezone(UTC).date() for event in events}
    return sum(count_on(body, day) for day in days)


def broken_event(user: str) -> Envelope:
    return Envelope(
        id=f"broken-{user}",
        type=tasks.TASK_COMPLETED,
        occurred_at=datetime.now(UTC),
        source="test",
        user_id=user,
        data={"task_id": "t1"},  # no kind, difficulty, completed_at
    )


class CrashBeforeAck:
    """The real sink, then a crash: the points are written, the entries never acked."""

    def __init__(self, sink: ActivityLog) -> None:
        self.sink = sink

    async def record(self, events: Sequence[tuple[Envelope, Event]]) -> object:
        await self.sink.record(events)
        raise RuntimeError("process died before acknowledging")


async def test_events_become_points_once_however_often_delivered(
    app: Litestar, client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    user = someone()
    bus = EventBus(redis)
    events = a_day_of_events(user)
    for stream, event in events:
        await bus.publish(stream, event)
    # Duplicated on the bus: the same event id again (a relay after a crash does this).
    await bus.publish(*events[0])
    await eventually(lambda: all_recorded(redis))
    body = await calendar(client, issuer, user)
    assert count_on_days_of(body, [e for _, e in events]) == 5

    # Redelivered: another group's recorder writes the batch, then dies before its ack; a
    # second process claims the idle entries and writes them all again.
    crashing = recorder(redis, CrashBeforeAck(app.state.activity), group="replay")
    await crashing.ensure_groups()
    assert await crashing.poll_once(block_ms=100) == 0  # written, then the crash
    pending = await redis.xpending("events.tasks", "replay")
    assert pending["pending"] == 4  # written but not acked
    survivor = recorder(
        redis, app.state.activity, group="replay", visibility_timeout=0, name="another-process"
    )
    while await survivor.poll_once(block_ms=100):
        pass
    assert await all_recorded(redis, "replay")
    body = await calendar(client, issuer, user)
    assert count_on_days_of(body, [e for _, e in events]) == 5
    assert body["total"] == 5
    assert await redis.xlen("dlq.user-service-activity") == 0


async def test_an_event_breaking_its_contract_is_dead_lettered_and_the_rest_written(
    client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    user = someone()
    bus = EventBus(redis)
    await bus.publish("events.tasks", broken_event(user))
    await bus.publish("events.tasks", task_completed(user, event_id=f"{user}:ok"))
    await eventually(lambda: all_recorded(redis))
    dead = await redis.xrange("dlq.user-service-activity")
    assert [fields["entry_id"] for _, fields in dead] != []
    assert f"broken-{user}" in dead[0][1]["envelope"]
    assert (await calendar(client, issuer, user))["total"] == 1


async def test_calendar_series_and_streaks_in_the_callers_zone(
    app: Litestar, client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    store = app.state.activity.store
    # New York springs forward on 2026-03-08: these UTC times fall on local days that
    # differ from their UTC days (and from a fixed -05:00).
    user = someone()
    at = [
        datetime(2026, 3, 8, 4, 45, tzinfo=UTC),  # the 7th, 23:45 EST
        datetime(2026, 3, 8, 5, 0, tzinfo=UTC),  # the 8th, 00:00 EST
        datetime(2026, 3, 8, 5, 1, tzinfo=UTC),
        datetime(2026, 3, 9, 3, 45, tzinfo=UTC),  # the 8th, 23:45 EDT
        datetime(2026, 3, 9, 4, 0, tzinfo=UTC),  # the 9th, 00:00 EDT
    ]
    await store.write(
        [ActivityPoint(user, "task.completed", point_time_ns(t, f"e{i}")) for i, t in enumerate(at)]
    )
    headers = issuer.headers(user, READ)

    async def series(**query: str) -> httpx.Response:
        return await client.get(f"{ACTIVITY}/series", params=query, headers=headers)

    daily = await series(start="2026-03-07", end="2026-03-10", tz="America/New_York")
    assert daily.status_code == 200, daily.text
    assert [(b["start"], b["count"]) for b in daily.json()["buckets"]] == [
        ("2026-03-07", 1),
        ("2026-03-08", 3),
        ("2026-03-09", 1),
        ("2026-03-10", 0),
    ]
    in_utc = await series(start="2026-03-07", end="2026-03-10", tz="UTC")
    assert [b["count"] for b in in_utc.json()["buckets"]] == [0, 3, 2, 0]
    weekly = await series(
        start="2026-03-01", end="2026-03-15", tz="America/New_York", interval="week"
    )
    assert [(b["start"], b["count"]) for b in weekly.json()["buckets"]] == [
        ("2026-02-23", 0),  # the 1st is a Sunday
        ("2026-03-02", 4),
        ("2026-03-09", 1),
    ]
    assert weekly.json()["total"] == 5

    year = await calendar(client, issuer, user, tz="America/New_York", end="2026-12-31")
    assert (year["start"], year["end"], len(year["days"])) == ("2025-12-26", "2026-12-31", 371)
    assert year["total"] == 5
    assert count_on(year, date(2026, 3, 8)) == 3
    shades = {d["date"]: d["level"] for d in year["days"] if d["count"]}
    assert shades == {"2026-03-07": 1, "2026-03-08": 4, "2026-03-09": 1}

    # Without tz, the caller's profile's zone: a registered person in Tokyo.
    tokyo = await register(client, redis, email=f"{user}@example.com", time_zone="Asia/Tokyo")
    await store.write([ActivityPoint(tokyo, "task.created", point_time_ns(at[0], "t"))])
    own = await client.get(
        f"{ACTIVITY}/calendar", params={"end": "2026-03-31"}, headers=issuer.headers(tokyo, READ)
    )
    assert own.json()["time_zone"] == "Asia/Tokyo"
    assert count_on(own.json(), date(2026, 3, 8)) == 1  # 13:45 in Tokyo

    # Streaks: the last three local days active, and an older run of four.
    streaker = someone()
    now = datetime.now(UTC)
    active = [now - timedelta(days=d) for d in (0, 1, 2, 10, 11, 12, 13)]
    await store.write(
        [ActivityPoint(streaker, "task.completed", point_time_ns(t, str(t))) for t in active]
    )
    streak = await client.get(
        f"{ACTIVITY}/streak", params={"tz": "UTC"}, headers=issuer.headers(streaker, READ)
    )
    assert streak.status_code == 200, streak.text
    assert (streak.json()["current"], streak.json()["best"]) == (3, 4)
    assert streak.json()["last_active"] == now.date().isoformat()

    # Ranges that break the rules: 422 problems.
    backwards = await series(start="2026-03-10", end="2026-03-01")
    assert backwards.status_code == 422
    assert backwards.headers["content-type"].startswith("application/problem+json")
    assert (await series(start="2025-01-01", end="2026-03-01", tz="UTC")).status_code == 422
    assert (
        await series(start="2024-01-01", end="2026-12-31", tz="UTC", interval="week")
    ).status_code == 200
    assert (
        await series(start="2026-03-01", end="2026-03-02", tz="Mars/Olympus")
    ).status_code == 422
    assert (await client.get(f"{ACTIVITY}/calendar")).status_code == 401


MALICIOUS = [
    '") |> drop(columns: ["user"]) //',
    'x" or r.user != "',
    '\\" or true or \\"',
    'u\n|> yield(name: "all")',
]


async def test_no_input_changes_the_flux_query(
    app: Litestar, client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    store = app.state.activity.store
    victim = someone()
    now = datetime.now(UTC)
    await store.write([ActivityPoint(victim, "task.completed", point_time_ns(now, "v"))])
    start, stop = now - timedelta(days=1), now + timedelta(days=1)
    assert await store.quarter_hours(victim, start, stop) != []
    for user in MALICIOUS:
        # A user id that is Flux: only ever a value nobody has.
        assert await store.quarter_hours(user, start, stop) == []
        body = await calendar(client, issuer, user)
        assert body["total"] == 0
    # Zones, dates and intervals are checked before any query: 4xx, nothing read.
    headers = issuer.headers(victim, READ)
    for query in (
        {"tz": 'UTC") |> drop(columns: ["user"]) //'},
        {"tz": "UTC", "end": '2026-01-01") |> drop(columns: ["user"]) //'},
        {"tz": "UTC", "end": "2026-01-01T00:00:00Z"},
    ):
        response = await client.get(f"{ACTIVITY}/calendar", params=query, headers=headers)
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    for query in (
        {"start": "2026-01-01", "end": "2026-01-02", "interval": 'day") |> yield(name: "x'},
        {"start": "-1y", "end": "now()"},
    ):
        response = await client.get(f"{ACTIVITY}/series", params=query, headers=headers)
        assert 400 <= response.status_code < 500, response.text
    # The victim's point is still there and theirs alone.
    assert await store.quarter_hours(victim, start, stop) == [
        (now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0), 1)
    ]


async def test_a_deleted_accounts_activity_goes_with_it(
    app: Litestar, client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    store = app.state.activity.store
    now = datetime.now(UTC)
    leaving = await register(client, redis, email=f"{someone()}@example.com")
    staying = someone()
    for user in (leaving, staying):
        await store.write([ActivityPoint(user, "task.completed", point_time_ns(now, user))])
    deleted = await client.delete(f"{PREFIX}/me", headers=issuer.headers(leaving, "users:write"))
    assert deleted.status_code == 204, deleted.text
    span = (now - timedelta(days=1), now + timedelta(days=1))
    assert await store.quarter_hours(leaving, *span) == []
    assert len(await store.quarter_hours(staying, *span)) == 1


async def test_the_bucket_keeps_points_as_long_as_the_setting_says(
    app: Litestar, influx_server: InfluxServer
) -> None:
    env = influx_server.env()

    async def retention() -> int | None:
        async with httpx.AsyncClient(base_url=env["INFLUXDB_URL"]) as influx:
            response = await influx.get(
                "/api/v2/buckets",
                params={"name": env["INFLUXDB_BUCKET"], "org": env["INFLUXDB_ORG"]},
                headers={"Authorization": f"Token {env['INFLUXDB_TOKEN']}"},
            )
        rules = response.json()["buckets"][0]["retentionRules"]
        return int(rules[0]["everySeconds"]) if rules else None

    async def set_as_configured() -> bool:
        return await retention() == 400 * 86_400

    await eventually(set_as_configured)


async def test_an_influxdb_outage_loses_and_doubles_nothing(
    own_servers: OwnServers, user_settings: UserSettings, redis: Any, issuer: TokenIssuer
) -> None:
    """InfluxDB stops: readiness says so (degraded, still 200: sign-in goes on), activity
    reads are 503, events wait on the bus unacknowledged and not dead-lettered; InfluxDB
    returns: every event is written once."""
    influx = own_servers.influx
    settings = dataclasses.replace(
        user_settings, influxdb_url=influx.url, consumer_block_ms=100, health_timeout_seconds=0.5
    )
    app = create_app(settings)
    user = someone()
    async with app.lifespan(), client_of(app) as client:
        assert (await client.get("/health")).json()["status"] == "ok"
        influx.stop()
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["degraded"] == ["influxdb"]

        events = [task_completed(user, task_id=f"t{i}", event_id=f"{user}:{i}") for i in range(3)]
        # Appended at once, so the recorder reads them as one batch: three events, one of
        # them duplicated, and one that breaks its contract — dead-lettered once, however
        # often its batch is tried.
        async with redis.pipeline(transaction=True) as at_once:
            for event in [*events, events[0], broken_event(user)]:
                at_once.xadd("events.tasks", {"envelope": event.encode()})
            await at_once.execute()

        async def waiting() -> bool:
            """Read as one batch and failed: none acknowledged."""
            group = {g["name"]: g for g in await redis.xinfo_groups("events.tasks")}[GROUP]
            return group["pending"] == 5 and group["lag"] == 0

        await eventually(waiting)
        await asyncio.sleep(2)  # several failed writes later: still waiting, none given up
        assert await waiting()
        assert await redis.xlen("dlq.user-service-activity") == 0
        down = await client.get(
            f"{ACTIVITY}/calendar", params={"tz": "UTC"}, headers=issuer.headers(user, READ)
        )
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("application/problem+json")

        influx.start()
        await eventually(lambda: all_recorded(redis))
        assert (await client.get("/health")).json()["status"] == "ok"
        body = await calendar(client, issuer, user)
        assert body["total"] == 3
        assert await redis.xlen("dlq.user-service-activity") == 1
        assert count_on_days_of(body, events) == 3


async def test_openapi_declares_the_activity_routes_and_their_problems(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get(f"{PREFIX}/schema/openapi.json")).json()["paths"]
    for route in ("calendar", "series", "streak"):
        responses = paths[f"{ACTIVITY}/{route}"]["get"]["responses"]
        assert {"200", "400", "401", "403", "422", "503"} <= set(responses), route
        assert "application/problem+json" in responses["422"]["content"]
    series = {p["name"]: p for p in paths[f"{ACTIVITY}/series"]["get"]["parameters"]}
    assert series["start"]["required"]
    assert series["interval"]["schema"]["enum"] == ["day", "week"]
