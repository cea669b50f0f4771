"""The core loop reaches the user, every service a real process: a task completed over
task-service's HTTP API is credited by gamification-service, notification-service stores the
notification in the user's inbox and emits it to the user's Socket.IO room through the Redis
manager (decoded from the manager's channel as every websocket-service pod would read it).
Account mail from user-service's events goes out through a local SMTP relay. The emit carries
the trace of the event that made the notification."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis

from deepiri_kit.contracts.users import VerificationRequested
from deepiri_kit.events import Envelope, event_envelope
from infra import RedisServer
from support.processes import ServiceProcesses
from support.rooms import RoomListener
from support.smtp import SmtpRelay
from support.tokens import TokenIssuer
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]


def test_a_completed_task_reaches_the_inbox_and_the_users_room(
    service_process: ServiceProcesses, issuer: TokenIssuer, redis_server: RedisServer
) -> None:
    channel = f"socketio-{uuid.uuid4().hex[:8]}"
    user = f"user-{uuid.uuid4().hex[:8]}"  # the harness's Redis is shared with earlier tests
    task_service = service_process("task-service")
    service_process("gamification-service")
    notifications = service_process("notification-service", workers=2, SOCKET_CHANNEL=channel)
    tasks_h = issuer.headers(user, "tasks:read tasks:write")
    inbox_h = issuer.headers(user, "notifications:read notifications:write")
    with (
        Redis(port=redis_server.port, decode_responses=True) as redis,
        RoomListener(redis, channel) as room,
        task_service.client(tasks_h) as tasks,
        notifications.client(inbox_h) as inbox,
    ):
        created = tasks.post("/api/tasks", json={"title": "Write the report"})
        assert created.status_code == 201, created.text
        # The user's action starts a trace (carried by the events that follow it).
        trace_id = uuid.uuid4().hex
        done = tasks.post(
            f"/api/tasks/{created.json()['id']}/complete",
            json={},
            headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
        )
        assert done.status_code == 200, done.text

        def rewarded() -> dict[str, Any] | None:
            items = inbox.get("/api/notifications/inbox").json()["items"]
            return next((n for n in items if n["kind"] == "reward"), None)

        reward = wait_for(rewarded, what="the reward notification")
        assert reward["event_type"] == "gamification.currency_credited"
        assert "xp" in reward["data"]["amounts"]
        assert inbox.get("/api/notifications/inbox/unread-count").json()["unread"] >= 1

        def emitted() -> list[dict[str, Any]] | None:
            # The reward's own emit (the badge's may come first or alone for a while).
            payloads = room.poll().to(f"user:{user}", "notification.created")
            return payloads if reward["id"] in {p["id"] for p in payloads} else None

        payloads = wait_for(emitted, what="the reward's emit to the user's room")
        payload = next(p for p in payloads if p["id"] == reward["id"])
        assert payload["type"] == "notification.created"
        assert payload["data"]["title"] == reward["title"]
        # The emit continues the trace of the event that made the notification (the credit,
        # itself in the trace of the user's request unless gamification-service repaired it
        # later in a trace of its own).
        credited = [
            Envelope.decode(fields["envelope"])
            for _, fields in redis.xrange("events.gamification")
            if fields["envelope"].find(reward["data"]["ref"].get("completion_id", "-")) >= 0
        ]
        assert credited, "the credit's event is on the stream"
        credit_trace = (credited[0].traceparent or "").split("-")[1]
        assert payload["traceparent"].split("-")[1] == credit_trace

        # The first completion also earns a badge: its notification carries the badge's
        # reward (no second "you earned" for it). Between 23:00 and 04:00 UTC it also earns
        # the secret night-owl badge (the catalog's only other badge for one completion).
        completed_at = datetime.fromisoformat(done.json()["completion"]["completed_at"])
        expected = {"tasks-1"} | ({"night-owl"} if not 4 <= completed_at.hour < 23 else set())

        def badged() -> list[dict[str, Any]] | None:
            items = inbox.get("/api/notifications/inbox").json()["items"]
            badges = [n for n in items if n["kind"] == "badge"]
            return badges if {n["data"]["badge_id"] for n in badges} >= expected else None

        badges = wait_for(badged, what=f"the badge notifications {sorted(expected)}")
        assert sorted(n["data"]["badge_id"] for n in badges) == sorted(expected)
        # Completing again announces nothing: still one reward for this task.
        tasks.post(f"/api/tasks/{created.json()['id']}/complete", json={})
        read = inbox.post(f"/api/notifications/inbox/{reward['id']}/read")
        assert read.status_code == 200, read.text
        items = inbox.get("/api/notifications/inbox").json()["items"]
        assert sorted(n["kind"] for n in items) == ["badge"] * len(expected) + ["reward"]
        unread = inbox.get("/api/notifications/inbox/unread-count").json()["unread"]
        assert unread == len(expected)


def test_account_mail_waits_for_the_relay(
    service_process: ServiceProcesses, redis_server: RedisServer
) -> None:
    relay = SmtpRelay()  # not started: the relay is down when the event arrives
    service_process("notification-service", **relay.env())
    address = f"{uuid.uuid4().hex[:8]}@example.org"
    link = f"https://deepiri.example/verify?token={uuid.uuid4().hex}"
    event = VerificationRequested(
        user_id="u1",
        email=address,
        locale="en",
        link=link,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    envelope = event_envelope(event, source="user-service", user_id="u1")

    with Redis(port=redis_server.port, decode_responses=True) as bus:
        bus.xadd("events.users", {"envelope": envelope.encode()})  # as EventBus.publish does
    time.sleep(2)  # a couple of failed attempts against the closed port
    with relay:

        def delivered() -> bool:
            return any(m["To"] == address for m in relay.mailbox.received)

        wait_for(delivered, what="the mail after the relay came back")
    [mail] = [m for m in relay.mailbox.received if m["To"] == address]
    assert link in mail.get_payload(decode=True).decode()
