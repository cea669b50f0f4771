"""Delivery that waits instead of losing anything: account mail through a real local SMTP
relay (aiosmtpd) that is down, refuses for a while or refuses for good; the in-app emit when
its Redis is unreachable. Every attempt is recorded, without the mail's secret link."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deepiri_kit.contracts.users import PasswordResetRequested, VerificationRequested
from notification_service.domain.notifications import Draft
from notification_service.service import Deliveries
from notification_service.store.channels import RoomEmitter
from notification_service.store.channels import SmtpRelay as Relay
from notification_service.store.notifications import NotificationStore
from support.erasure import mongo_traces, publish_deletion, someone
from support.rooms import listening
from support.smtp import SmtpRelay
from support.streams import drained, publish_event
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def verification(user: str, link: str) -> VerificationRequested:
    return VerificationRequested(
        user_id=user,
        email=f"{user}@example.org",
        locale="en",
        link=link,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


async def attempts(mongo: Any) -> list[dict[str, Any]]:
    return await mongo["delivery_attempts"].find({}).sort("at", 1).to_list()


async def test_account_mail_is_sent_once_per_event(
    client: httpx.AsyncClient, redis: Any, mongo: Any, smtp: SmtpRelay
) -> None:
    link = f"https://deepiri.example/verify?token={uuid.uuid4().hex}"
    event_id = await publish_event(redis, "events.users", verification("ada", link), "ada")
    await publish_event(
        redis, "events.users", verification("ada", link), "ada", event_id=event_id
    )  # redelivered
    reset = PasswordResetRequested(
        user_id="ada",
        email="ada@example.org",
        locale="en",
        link="https://deepiri.example/reset?token=r",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    await publish_event(redis, "events.users", reset, "ada")

    async def both_sent_and_retired() -> bool:
        # The relay has a mail before the service records the attempt and retires the
        # delivery: wait for all three.
        delivered = [a for a in await attempts(mongo) if a["outcome"] == "delivered"]
        retired = await mongo["deliveries"].count_documents({}) == 0
        return len(smtp.mailbox.received) >= 2 and len(delivered) >= 2 and retired

    await eventually(both_sent_and_retired)
    subjects = sorted(m["Subject"] for m in smtp.mailbox.received)
    assert subjects == ["Confirm your Deepiri email address", "Reset your Deepiri password"]
    verify = next(m for m in smtp.mailbox.received if m["Subject"].startswith("Confirm"))
    assert verify["To"] == "ada@example.org"
    assert link in verify.get_payload(decode=True).decode()
    assert smtp.mailbox.envelopes[0][1] == ["ada@example.org"]
    # Nothing waits, and the log says "delivered" without keeping the link (both are
    # recorded after the relay's answer, which the mailbox above may see first).

    async def settled() -> bool:
        return (
            await mongo["deliveries"].count_documents({}) == 0 and len(await attempts(mongo)) >= 2
        )

    await eventually(settled)
    log = await attempts(mongo)
    assert [a["outcome"] for a in log] == ["delivered", "delivered"]
    assert link not in repr(log)
    assert len(smtp.mailbox.received) == 2


async def test_account_mail_arriving_after_the_deletion_is_not_sent(
    client: httpx.AsyncClient, redis: Any, mongo: Any, smtp: SmtpRelay
) -> None:
    eve = someone("eve")
    await publish_deletion(redis, eve)
    link = f"https://deepiri.example/verify?token={uuid.uuid4().hex}"
    await publish_event(redis, "events.users", verification(eve, link), eve)
    # A marker after it: another person's mail shows the consumer went past the late one.
    await publish_event(redis, "events.users", verification("ada", link), "ada")

    async def marker_sent() -> bool:
        return len(smtp.mailbox.received) >= 1

    await eventually(marker_sent)
    await eventually(lambda: drained(redis, "events.users", "notification-service"))
    assert [m["To"] for m in smtp.mailbox.received] == ["ada@example.org"]
    assert await mongo_traces(mongo, eve, besides=["erased_users", "consumed_events"]) == {}


async def test_mail_waits_while_the_relay_is_down_and_goes_out_when_it_returns(
    client: httpx.AsyncClient, redis: Any, mongo: Any, smtp: SmtpRelay
) -> None:
    smtp.stop()
    await publish_event(
        redis, "events.users", verification("bea", "https://deepiri.example/verify?token=b"), "bea"
    )

    async def failed_twice() -> bool:
        # A failed attempt is recorded, then its delivery postponed: wait for the latter.
        waiting = await mongo["deliveries"].find_one({})
        return waiting is not None and waiting["failures"] >= 2

    await eventually(failed_twice)
    assert sum(a["outcome"] == "failed" for a in await attempts(mongo)) >= 2
    assert smtp.mailbox.received == []

    smtp.start()

    async def sent_and_retired() -> bool:
        retired = await mongo["deliveries"].count_documents({}) == 0
        return len(smtp.mailbox.received) == 1 and retired

    await eventually(sent_and_retired)
    log = await attempts(mongo)
    assert log[-1]["outcome"] == "delivered"
    assert [a["attempt"] for a in log] == list(range(1, len(log) + 1))
    assert await mongo["deliveries"].count_documents({}) == 0


async def test_a_temporary_refusal_is_retried_and_a_final_one_is_recorded(
    client: httpx.AsyncClient, redis: Any, mongo: Any, smtp: SmtpRelay
) -> None:
    smtp.mailbox.refuse_with = "451 4.3.0 try again later"
    await publish_event(
        redis, "events.users", verification("cy", "https://deepiri.example/verify?token=c"), "cy"
    )

    async def refused() -> bool:
        return any("451" in a.get("error", "") for a in await attempts(mongo))

    await eventually(refused)
    smtp.mailbox.refuse_with = None

    async def sent() -> bool:
        return len(smtp.mailbox.received) == 1

    await eventually(sent)

    smtp.mailbox.refuse_with = "550 5.1.1 no such mailbox"
    await publish_event(
        redis, "events.users", verification("dee", "https://deepiri.example/verify?token=d"), "dee"
    )

    async def rejected_and_dropped() -> bool:
        # The attempt is recorded before the delivery is dropped (so a crash between the
        # two retries rather than loses it): wait for both, then make sure it stays dropped.
        recorded = any(a["outcome"] == "rejected" for a in await attempts(mongo))
        return recorded and await mongo["deliveries"].count_documents({}) == 0

    await eventually(rejected_and_dropped)
    await asyncio.sleep(0.5)  # several sweep intervals: a dropped delivery is not retried
    assert sum(a["outcome"] == "rejected" for a in await attempts(mongo)) == 1
    assert await mongo["deliveries"].count_documents({}) == 0


async def test_an_in_app_emit_waits_while_its_redis_is_unreachable(
    redis: Any, mongo: Any, socket_channel: str
) -> None:
    """The delivery use case on the real store, first with an emitter whose Redis does not
    answer (a port nobody listens on), then with the harness's Redis."""
    store = NotificationStore(mongo, redis)
    await store.ensure_indexes()
    relay = Relay(host="", port=25, sender="x@example.org")
    # Port 9 (discard): nothing listens, and no harness server can take it meanwhile (a
    # free_port() could be bound by another test's server before the emit).
    dead = RoomEmitter("redis://127.0.0.1:9/0", socket_channel)
    deliveries = Deliveries(store, dead, relay, retry_first=0.05, retry_limit=0.05, min_age=0)
    await deliveries.notify("eve", "e1", "gamification.badge_awarded", Draft("badge", "B", "b"))
    [waiting] = await store.pending()
    assert waiting["failures"] == 1
    assert (await attempts(mongo))[0]["outcome"] == "failed"

    port = redis.connection_pool.connection_kwargs["port"]
    deliveries.emitter = RoomEmitter(f"redis://127.0.0.1:{port}/0", socket_channel)
    async with listening(redis, socket_channel) as emits:
        assert await eventually_swept(deliveries) == 1

        async def emitted() -> bool:
            return len(emits.to("user:eve")) == 1

        await eventually(emitted)
    assert await store.pending() == []
    await dead.close()
    await deliveries.emitter.close()


async def eventually_swept(deliveries: Deliveries) -> int:
    found = 0

    async def swept() -> bool:
        nonlocal found
        found = await deliveries.sweep()
        return found > 0

    await eventually(swept)
    return found
