"""The daily digest, on real FerretDB and a real local SMTP relay (aiosmtpd), with a clock
the test moves: one mail per user and local day at the user's hour, from two replicas'
periodic workers at once, not again after a restart, and not lost when a process dies
between claiming the day and queueing the mail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client import REGISTRY

from deepiri_kit import Periodic
from notification_service import service
from notification_service.domain.digest import digest_key
from notification_service.domain.notifications import Draft, Mail
from notification_service.domain.preferences import with_changes
from notification_service.service import Deliveries, Digests
from notification_service.store.channels import RoomEmitter, message_id_of
from notification_service.store.channels import SmtpRelay as Relay
from notification_service.store.notifications import NotificationStore
from support.smtp import SmtpRelay
from support.tokens import TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
TOKYO = ZoneInfo("Asia/Tokyo")
PREFS = "/api/notifications/preferences"
RW = "notifications:read notifications:write"


@dataclass
class Clock:
    """The time the digests see; the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def tokyo(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


def digests_counted(outcome: str) -> float:
    sample = REGISTRY.get_sample_value("deepiri_notification_digests_total", {"outcome": outcome})
    return sample or 0.0


@pytest.fixture
async def store(mongo: Any, redis: Any) -> NotificationStore:
    found = NotificationStore(mongo, redis)
    await found.ensure_indexes()
    return found


@pytest.fixture
def replica(
    store: NotificationStore, redis: Any, smtp: SmtpRelay, socket_channel: str
) -> Callable[[Clock], Digests]:
    """One process's digests (its own relay client and emitter) on the shared database."""
    port = redis.connection_pool.connection_kwargs["port"]

    def make(clock: Clock) -> Digests:
        relay = Relay(host="127.0.0.1", port=smtp.port, sender="x@deepiri.dev", security="none")
        emitter = RoomEmitter(f"redis://127.0.0.1:{port}/0", socket_channel)
        return Digests(store, Deliveries(store, emitter, relay, min_age=0, clock=clock))

    return make


async def subscribe(store: NotificationStore, user: str, hour: int) -> None:
    profile = {"email": f"{user}@example.org", "time_zone": "Asia/Tokyo"}
    await store.set_profile(user, profile, datetime.now(UTC))
    prefs = await store.preferences_of(user)
    await store.save_preferences(user, with_changes(prefs, digest_hour=hour))


async def notify(digests: Digests, user: str, title: str) -> None:
    draft = Draft("badge", title, f"{title}, well done")
    await digests.deliveries.notify(user, f"{user}-{title}", "gamification.badge_awarded", draft)


@asynccontextmanager
async def running(*replicas: Digests) -> AsyncIterator[None]:
    """Each replica's digest as the service runs it: the kit's periodic worker."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(Periodic("daily-digest", 0.02, d.run).run(stop)) for d in replicas]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_one_digest_per_user_and_local_day_from_two_replicas(
    store: NotificationStore, replica: Callable[[Clock], Digests], smtp: SmtpRelay, mongo: Any
) -> None:
    clock = Clock(tokyo(1, 7, 59))
    one, two = replica(clock), replica(clock)
    queued, empty = digests_counted("queued"), digests_counted("empty")
    await subscribe(store, "pia", hour=8)
    await subscribe(store, "quin", hour=8)  # nothing unread: no mail
    for title in ("Early bird", "Night owl", "Streak keeper"):
        await notify(one, "pia", title)
    [read] = await mongo["notifications"].find({"title": "Night owl"}).to_list()
    assert await store.mark_read("pia", read["_id"], clock.now)

    async with running(one, two):
        await asyncio.sleep(0.3)
        assert smtp.mailbox.received == []  # 07:59 in Tokyo: not yet
        clock.now = tokyo(1, 8, 0)

        async def sent_and_counted() -> bool:
            # The relay has the mail before the replica marks the day queued and counts it.
            counted = digests_counted("queued") > queued and digests_counted("empty") > empty
            return len(smtp.mailbox.received) >= 1 and counted

        await eventually(sent_and_counted)
        await asyncio.sleep(0.3)  # both replicas keep running: still one
    [mail] = smtp.mailbox.received
    assert (digests_counted("queued"), digests_counted("empty")) == (queued + 1, empty + 1)
    assert mail["To"] == "pia@example.org"
    assert mail["Subject"] == "Your Deepiri digest for 2026-12-01: 2 unread"
    text = mail.get_payload(decode=True).decode()
    assert "Early bird" in text
    assert "Streak keeper" in text
    assert "Night owl" not in text  # read: not in the digest
    assert mail["Message-ID"] == message_id_of(
        digest_key("pia", clock.now.astimezone(TOKYO).date())
    )

    # A restart later that day (new processes): the day is done.
    clock.now = tokyo(1, 21, 0)
    assert await replica(clock).run() == 0
    # The next day at 08:00 local, the next digest.
    clock.now = tokyo(2, 8, 5)
    await notify(one, "pia", "Second day")
    assert await replica(clock).run() == 1

    async def next_day() -> bool:
        return len(smtp.mailbox.received) == 2

    await eventually(next_day)
    # Only the past day's unread: the first day's are in the first digest.
    assert smtp.mailbox.received[1]["Subject"] == "Your Deepiri digest for 2026-12-02: 1 unread"
    assert all(m["To"] == "pia@example.org" for m in smtp.mailbox.received)


async def test_a_day_claimed_by_a_process_that_died_is_still_sent(
    store: NotificationStore, replica: Callable[[Clock], Digests], smtp: SmtpRelay
) -> None:
    clock = Clock(tokyo(3, 9, 0))
    await subscribe(store, "rui", hour=8)
    key = digest_key("rui", clock.now.astimezone(TOKYO).date())
    mail = Mail(to="rui@example.org", subject="Your Deepiri digest", text="1 unread")
    # The dead process claimed the day and died before queueing the mail.
    assert await store.claim_digest(key, "rui", clock.now, mail)
    digests = replica(clock)
    assert await digests.run() == 0  # too early to call it dead: it may still be working
    clock.now += service.LEASE + timedelta(seconds=1)
    assert await digests.run() == 1
    assert await digests.run() == 0

    async def sent() -> bool:
        return len(smtp.mailbox.received) == 1

    await eventually(sent)
    assert smtp.mailbox.received[0]["To"] == "rui@example.org"


async def test_no_verified_address_no_digest(
    store: NotificationStore, replica: Callable[[Clock], Digests], smtp: SmtpRelay
) -> None:
    clock = Clock(tokyo(4, 10, 0))
    await subscribe(store, "sol", hour=8)
    # The address withdrawn by a later profile (a second after the subscription's).
    await store.set_profile("sol", {"email": None}, datetime.now(UTC) + timedelta(seconds=1))
    digests = replica(clock)
    await notify(digests, "sol", "Unmailed")
    assert await digests.run() == 0
    assert smtp.mailbox.received == []


async def test_the_digest_is_a_preference(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    tia = issuer.headers("tia", RW)
    assert (await client.get(PREFS, headers=tia)).json()["digest"] is None
    on = await client.patch(PREFS, json={"digest": {"hour": 8}}, headers=tia)
    assert on.status_code == 200, on.text
    assert on.json()["digest"] == {"hour": 8}
    for bad in ({"hour": 24}, {"hour": -1}, {"hour": "8"}, {"at": 8}):
        refused = await client.patch(PREFS, json={"digest": bad}, headers=tia)
        assert refused.status_code == 400, refused.text
    assert (await client.get(PREFS, headers=tia)).json()["digest"] == {"hour": 8}
    off = await client.patch(PREFS, json={"digest": None}, headers=tia)
    assert off.json()["digest"] is None
