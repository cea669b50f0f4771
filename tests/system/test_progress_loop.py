"""The progress loop across real processes and the real bus: tasks completed through
task-service's HTTP API raise the owner's skill XP in user-service, show on their activity
calendar (InfluxDB), each event counted once, in the owner's local day, and rank them on
their friends' board in gamification-service next to the friend they made at
user-service."""

from __future__ import annotations

import time
import uuid
from datetime import UTC
from typing import Any

import pytest
from redis import Redis

from deepiri_kit.events import Envelope
from support.processes import ServiceProcesses
from support.servers import OwnServers
from support.tokens import TokenIssuer
from support.waiting import wait_for
from user_service.domain.activity import ACTIVITY_KINDS

pytestmark = [pytest.mark.system, pytest.mark.slow]
ACTIVITY_STREAMS = ("events.tasks", "events.gamification", "events.skills", "events.social")


def activity_on_bus(redis: Redis, user: str) -> dict[str, int]:
    """The activity events the bus carried for ``user`` (each id once), per UTC day of the
    event (a run at midnight has two)."""
    days: dict[str, set[str]] = {}
    for stream in ACTIVITY_STREAMS:
        for _, fields in redis.xrange(stream):
            event = Envelope.decode(fields["envelope"])
            if event.user_id == user and event.type in ACTIVITY_KINDS:
                day = event.occurred_at.astimezone(UTC).date().isoformat()
                days.setdefault(day, set()).add(event.id)
    return {day: len(ids) for day, ids in days.items()}


def test_completing_tasks_raises_skill_xp_fills_the_calendar_and_the_friends_board(
    service_process: ServiceProcesses, issuer: TokenIssuer, session_servers: OwnServers
) -> None:
    user = f"alice-{uuid.uuid4().hex[:8]}"  # InfluxDB is the session's: a person of our own
    task_service = service_process("task-service")
    user_service = service_process("user-service", workers=2)
    game = service_process("gamification-service")
    friend = f"bob-{uuid.uuid4().hex[:8]}"
    tasks_h = issuer.headers(user, "tasks:read tasks:write")
    users_h = issuer.headers(user, "users:read users:write")
    game_h = issuer.headers(user, "gamification:read")
    redis = Redis(port=session_servers.redis.port, decode_responses=True)
    with (
        task_service.client(tasks_h) as tasks,
        user_service.client(users_h) as users,
        game.client(game_h) as boards,
        redis,
    ):
        # Friends at user-service: the user asks, the friend accepts (the friend's event).
        asked = users.post(f"/api/users/friends/requests/{friend}")
        assert asked.status_code == 200, asked.text
        with user_service.client(issuer.headers(friend, "users:read users:write")) as theirs:
            accepted = theirs.post(f"/api/users/friends/requests/{user}/accept")
            assert accepted.status_code == 200, accepted.text
        with task_service.client(issuer.headers(friend, "tasks:read tasks:write")) as their:
            created = their.post("/api/tasks", json={"title": "one easy thing"})
            assert created.status_code == 201, created.text
            done = their.post(f"/api/tasks/{created.json()['id']}/complete", json={})
            assert done.status_code == 200, done.text
        calendar = users.get("/api/users/activity/calendar", params={"tz": "UTC"})
        assert calendar.status_code == 200, calendar.text
        assert calendar.json()["total"] == 0
        for i in range(3):
            created = tasks.post(
                "/api/tasks", json={"title": f"kata {i}", "difficulty": "hard", "tags": ["coding"]}
            )
            assert created.status_code == 201, created.text
            done = tasks.post(f"/api/tasks/{created.json()['id']}/complete", json={})
            assert done.status_code == 200, done.text
            # Completing again is no new completion: no new event, no new activity.
            again = tasks.post(f"/api/tasks/{created.json()['id']}/complete", json={})
            assert again.status_code in (200, 409), again.text

        def trained() -> int | None:
            xp: int = users.get("/api/users/skills/programming").json()["xp"]
            return xp if xp >= 600 else None

        assert wait_for(trained, what="skill XP from completed tasks") == 600

        # The friends' board: both of them (three hard tasks above one medium), nobody else.
        def credited() -> list[dict[str, Any]] | None:
            ledger = boards.get("/api/gamification/wallet/ledger", params={"currency": "xp"})
            # All time: a run across Sunday midnight puts the two on two weeks' boards.
            board = boards.get(
                "/api/gamification/leaderboards/xp/friends", params={"period": "all"}
            ).json()
            paid = len(ledger.json()["items"]) == 3 and len(board["entries"]) == 2
            return board["entries"] if paid else None

        entries = wait_for(credited, what="the friends' board")
        assert [e["user_id"] for e in entries] == [user, friend]
        assert [e["rank"] for e in entries] == [1, 2]

        # Gamification's events (badges, levels) are activity too, and may still be on their
        # way: wait until the calendar counts exactly what the bus carried, the same twice in
        # a row. A double count never matches.
        def counted() -> dict[str, Any]:
            body: dict[str, Any] = users.get(
                "/api/users/activity/calendar", params={"tz": "UTC"}
            ).json()
            return body

        def as_carried() -> tuple[dict[str, int], dict[str, Any]] | None:
            seen = []
            for pause in (0, 2):
                time.sleep(pause)
                on_bus, body = activity_on_bus(redis, user), counted()
                by_day = {d["date"]: d["count"] for d in body["days"] if d["count"]}
                if by_day != on_bus or body["total"] != sum(on_bus.values()):
                    return None
                seen.append(on_bus)
            return (on_bus, body) if seen[0] == seen[1] else None

        on_bus, body = wait_for(as_carried, what="the calendar counting each bus event once")
        published = sum(on_bus.values())
        assert published >= 6  # three created, three completed (and whatever else happened)
        days = sorted(on_bus)  # today, or yesterday and today for a run at midnight
        assert body["days"][-1]["date"] >= days[-1]
        streak = users.get("/api/users/activity/streak", params={"tz": "UTC"}).json()
        assert (streak["current"], streak["best"], streak["last_active"]) == (
            len(days),
            len(days),
            days[-1],
        )
        week = users.get(
            "/api/users/activity/series",
            params={"start": days[0], "end": days[-1], "interval": "week", "tz": "UTC"},
        ).json()
        assert week["total"] == published
