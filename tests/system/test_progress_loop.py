"""The progress loop across real processes and the real bus: tasks completed through
task-service's HTTP API raise the owner's skill XP in user-service, show on their activity
calendar (InfluxDB), each event counted once, in the owner's local day, and rank them on
their friends' board in gamification-service next to the friend they made at
user-service."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
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


def activity_published(redis: Redis, user: str) -> int:
    """How many activity events the bus carried for ``user`` (each id once)."""
    ids = set()
    for stream in ACTIVITY_STREAMS:
        for _, fields in redis.xrange(stream):
            event = Envelope.decode(fields["envelope"])
            if event.user_id == user and event.type in ACTIVITY_KINDS:
                ids.add(event.id)
    return len(ids)


def settled_count(redis: Redis, user: str) -> int | None:
    """The user's activity events on the bus, once no more arrive for a moment."""
    before = activity_published(redis, user)
    time.sleep(2)
    after = activity_published(redis, user)
    return after if after == before else None


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
            board = boards.get(
                "/api/gamification/leaderboards/xp/friends", params={"period": "week"}
            ).json()
            paid = len(ledger.json()["items"]) == 3 and len(board["entries"]) == 2
            return board["entries"] if paid else None

        entries = wait_for(credited, what="the friends' board")
        assert [e["user_id"] for e in entries] == [user, friend]
        assert [e["rank"] for e in entries] == [1, 2]

        # Gamification's events (badges, levels) are activity too: count once they settled.
        published = wait_for(lambda: settled_count(redis, user), what="activity settled")
        assert published >= 6  # three created, three completed (and whatever else happened)
        today = datetime.now(UTC).date().isoformat()

        def counted() -> dict[str, Any] | None:
            body: dict[str, Any] = users.get(
                "/api/users/activity/calendar", params={"tz": "UTC"}
            ).json()
            return body if body["total"] >= published else None

        body = wait_for(counted, what="the activity calendar")
        assert body["total"] == published  # each event once, though two workers consume
        assert [d["count"] for d in body["days"] if d["date"] == today] == [published]
        assert body["days"][-1]["date"] == today
        streak = users.get("/api/users/activity/streak", params={"tz": "UTC"}).json()
        assert (streak["current"], streak["best"], streak["last_active"]) == (1, 1, today)
        week = users.get(
            "/api/users/activity/series",
            params={"start": today, "end": today, "interval": "week", "tz": "UTC"},
        ).json()
        assert week["total"] == published
