"""Email for ordinary notifications, on real FerretDB and Redis and a real local SMTP relay
(aiosmtpd): only for the types a user routes to ``email``, only to the address user-service
announced as verified, held for quiet hours, and once per notification — a redelivered
event, and two replicas sweeping the same delivery at once, still send one mail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deepiri_kit.contracts.users import UserUpdated
from infra import free_port
from notification_service import service
from notification_service.domain.notifications import Draft
from notification_service.domain.preferences import with_changes
from notification_service.service import Deliveries
from notification_service.store.channels import RoomEmitter, message_id_of
from notification_service.store.channels import SmtpRelay as Relay
from notification_service.store.notifications import NotificationStore
from support.gamification import badge_awarded
from support.smtp import SmtpRelay
from support.streams import publish_event
from support.tokens import TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
PREFS = "/api/notifications/preferences"
RW = "notifications:read notifications:write"


async def announce(redis: Any, mongo: Any, user: str, email: str | None) -> None:
    """user-service's profile event, and wait until the service holds it."""
    await publish_event(redis, "events.users", UserUpdated(user_id=user, email=email), user)

    async def known() -> bool:
        doc = await mongo["profiles"].find_one({"_id": user})
        return doc is not None and doc.get("email") == email

    await eventually(known)


async def badges_by_email(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    changed = await client.patch(
        PREFS, json={"channels": {"badge": ["in_app", "email"]}}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["channels"]["badge"] == ["in_app", "email"]


async def test_notifications_are_mailed_once_to_the_verified_address(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any, smtp: SmtpRelay
) -> None:
    kim, lou = issuer.headers("kim", RW), issuer.headers("lou", RW)
    await announce(redis, mongo, "kim", "kim@example.org")
    await announce(redis, mongo, "lou", None)  # address not verified: never mailed
    await badges_by_email(client, kim)
    await badges_by_email(client, lou)
    first = await publish_event(redis, "events.gamification", badge_awarded("kim"), "kim")
    await publish_event(
        redis, "events.gamification", badge_awarded("kim"), "kim", event_id=first
    )  # again
    await publish_event(redis, "events.gamification", badge_awarded("lou"), "lou")
    # Rewards stay in-app (the default): a credit is not mailed.

    async def settled() -> bool:
        made = await mongo["notifications"].count_documents({})
        return made == 2 and await mongo["deliveries"].count_documents({}) == 0

    await eventually(settled)
    [mail] = smtp.mailbox.received
    assert (mail["To"], mail["Subject"]) == ("kim@example.org", "Badge earned: First step")
    assert "Your first completed task" in mail.get_payload(decode=True).decode()
    [notification] = await mongo["notifications"].find({"user_id": "kim"}).to_list()
    assert mail["Message-ID"] == message_id_of(f"{notification['_id']}:email")
    log = await mongo["delivery_attempts"].find({"channel": "email"}).to_list()
    assert [(a["user_id"], a["outcome"]) for a in log] == [("kim", "delivered")]


async def test_mail_waits_for_the_end_of_quiet_hours(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any, smtp: SmtpRelay
) -> None:
    max_ = issuer.headers("max", RW)
    await announce(redis, mongo, "max", "max@example.org")
    await badges_by_email(client, max_)
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    changed = await client.patch(
        PREFS, json={"quiet_hours": window, "time_zone": "UTC"}, headers=max_
    )
    assert changed.status_code == 200, changed.text
    await publish_event(redis, "events.gamification", badge_awarded("max"), "max")

    async def in_inbox() -> bool:
        return await mongo["notifications"].count_documents({"user_id": "max"}) == 1

    await eventually(in_inbox)
    [held] = await mongo["deliveries"].find({"channel": "email"}).to_list()
    assert held["not_before"].replace(tzinfo=UTC) - now > timedelta(hours=1, minutes=58)
    assert smtp.mailbox.received == []


async def test_two_replicas_sweeping_one_delivery_send_it_once(
    mongo: Any, redis: Any, smtp: SmtpRelay, socket_channel: str
) -> None:
    """Two processes' sweeps (two Deliveries on one database) race on a mail that failed
    while the relay was down: the attempt's claim lets one of them send it."""
    store = NotificationStore(mongo, redis)
    await store.ensure_indexes()
    await store.set_profile("ned", {"email": "ned@example.org"}, datetime.now(UTC))
    prefs = await store.preferences_of("ned")
    await store.save_preferences(
        "ned", with_changes(prefs, channels={"badge": ["email"]}, quiet_hours=None)
    )
    port = redis.connection_pool.connection_kwargs["port"]

    def replica() -> Deliveries:
        relay = Relay(host="127.0.0.1", port=smtp.port, sender="x@deepiri.dev", security="none")
        emitter = RoomEmitter(f"redis://127.0.0.1:{port}/0", socket_channel)
        return Deliveries(store, emitter, relay, retry_first=0.01, retry_limit=0.01, min_age=0)

    one, two = replica(), replica()
    smtp.stop()
    await one.notify("ned", "e1", "gamification.badge_awarded", Draft("badge", "B", "b"))
    [waiting] = await store.pending()
    assert waiting["failures"] == 1
    smtp.start()
    await asyncio.sleep(0.05)  # past the retry's wait
    for _ in range(5):
        await asyncio.gather(one.sweep(), two.sweep(), one.sweep(), two.sweep())
    assert len(smtp.mailbox.received) == 1
    assert await store.pending() == []
    outcomes = [a["outcome"] for a in await store.attempts_of(waiting["_id"])]
    assert outcomes == ["failed", "delivered"]
    for replica_ in (one, two):
        await replica_.emitter.close()


async def test_a_claim_left_by_a_dead_process_is_taken_over(
    mongo: Any, redis: Any, smtp: SmtpRelay, socket_channel: str
) -> None:
    """A process that claimed an attempt and died: past the lease the attempt counts as
    failed and the next one goes out."""
    store = NotificationStore(mongo, redis)
    await store.ensure_indexes()
    port = redis.connection_pool.connection_kwargs["port"]
    relay = Relay(host="127.0.0.1", port=smtp.port, sender="x@deepiri.dev", security="none")
    emitter = RoomEmitter(f"redis://127.0.0.1:{port}/0", socket_channel)
    deliveries = Deliveries(store, emitter, relay, retry_first=0.01, retry_limit=0.01, min_age=0)
    job = deliveries._job("mail:dead", "oli", "email", datetime.now(UTC), datetime.now(UTC), None)
    job["mail"] = {"to": "oli@example.org", "subject": "S", "text": "T"}
    await store.record(None, [job])
    stale = datetime.now(UTC) - service.LEASE - timedelta(seconds=1)
    assert await store.claim_attempt("mail:dead", 0, stale) is None  # the dead process's
    assert await deliveries.sweep() == 0  # the stale claim turns into a failed attempt
    assert (await store.delivery("mail:dead") or {})["failures"] == 1
    assert await deliveries.sweep() == 1
    assert [m["To"] for m in smtp.mailbox.received] == ["oli@example.org"]
    await emitter.close()


async def test_without_a_relay_no_email_is_planned(mongo: Any, redis: Any) -> None:
    """No relay configured: ordinary notifications plan no email at all."""
    store = NotificationStore(mongo, redis)
    relay = Relay(host="", port=free_port(), sender="x@deepiri.dev")
    emitter = RoomEmitter("redis://127.0.0.1:1/0", "unused")
    assert "email" not in Deliveries(store, emitter, relay).available
