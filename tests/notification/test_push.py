"""Push, on real FerretDB and Redis against the protocol-faithful local fakes of FCM HTTP v1
(with its OAuth token endpoint) and APNs (HTTP/2): device registration, one message per
token, the OAuth bearer and the ES256 provider token, dead tokens deleted, 429 retried
after ``Retry-After`` without sending twice to a device already reached, every attempt
recorded without the token."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from deepiri_kit import Platform, load_settings
from notification_service import service
from notification_service.app import build, create_app, trust
from notification_service.domain.devices import Device, Push, new_device
from notification_service.domain.notifications import Draft
from notification_service.service import Deliveries
from notification_service.settings import NotificationSettings
from notification_service.store.push import ApnsSender, FcmSender
from notification_service.store.push_cap import PushCap
from support.gamification import badge_awarded
from support.push import ApnsFake, FcmFake
from support.streams import publish_event
from support.tls import TestCA
from support.tokens import TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
DEVICES = "/api/notifications/devices"
RW = "notifications:read notifications:write"
IOS_TOKEN = "ab" * 32
ANDROID_TOKEN = "fcm-registration-token:" + "x" * 60


@pytest.fixture
def fcm(ca: TestCA) -> Iterator[FcmFake]:
    """FCM and its OAuth token endpoint over TLS, like Google's."""
    fake = FcmFake(ca=ca).start()
    yield fake
    fake.stop()


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


@pytest.fixture
def apns(ca: TestCA) -> Iterator[ApnsFake]:
    """APNs over TLS, as Apple's endpoint only is, with a certificate from the test's CA."""
    fake = ApnsFake(ca=ca).start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(
    notification_env: dict[str, Any], fcm: FcmFake, apns: ApnsFake, ca: TestCA, tmp_path: Path
) -> NotificationSettings:
    key_file = tmp_path / "fcm.json"
    key_file.write_text(json.dumps(fcm.service_account()))
    p8 = tmp_path / "apns.p8"
    p8.write_text(apns.key_pem())
    env = {
        **notification_env,
        # No FCM_PROJECT_ID: the service-account key names the project (as in the chart).
        "fcm_key_file": str(key_file),
        "fcm_endpoint": fcm.url,
        "fcm_ca_file": str(ca.ca_file),
        "apns_team_id": apns.team_id,
        "apns_key_id": apns.key_id,
        "apns_key_file": str(p8),
        "apns_topic": apns.topic,
        "apns_endpoint": apns.url,
        "apns_ca_file": str(ca.ca_file),
        "push_per_user_per_hour": 3,
    }
    return load_settings(NotificationSettings, {}, **env)


@pytest.fixture
def app(settings: NotificationSettings) -> Litestar:
    return create_app(settings)


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], provider: str, token: str
) -> dict[str, Any]:
    platform = "ios" if provider == "apns" else "android"
    body = {"provider": provider, "platform": platform, "token": token, "app_version": "1.4.0"}
    response = await client.post(DEVICES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def register_both(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """An iPhone (APNs) and an Android phone (FCM) for the caller."""
    await register(client, headers, "apns", IOS_TOKEN)
    await register(client, headers, "fcm", ANDROID_TOKEN)


async def all_delivered(mongo: Any) -> None:
    """Wait until the service has retired every delivery: the providers (the fakes) answer
    before the service records the attempt and retires it."""

    async def settled() -> bool:
        return await mongo["deliveries"].count_documents({}) == 0

    await eventually(settled)


async def award(redis: Any, user: str, badge: str = "first-step") -> None:
    await publish_event(redis, "events.gamification", badge_awarded(user, badge), user)


async def push_attempts(mongo: Any) -> list[dict[str, Any]]:
    return await mongo["delivery_attempts"].find({"device_id": {"$exists": True}}).to_list()


async def test_devices_are_registered_listed_and_removed(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    alice, bob = issuer.headers("alice", RW), issuer.headers("bob", RW)
    ios = await register(client, alice, "apns", IOS_TOKEN.upper())
    android = await register(client, alice, "fcm", ANDROID_TOKEN)
    assert ios["token_end"] == IOS_TOKEN[-6:]  # lower-cased, and never shown whole
    listed = (await client.get(DEVICES, headers=alice)).json()
    assert [d["id"] for d in listed] == [ios["id"], android["id"]]
    # The phone changes hands: the token is bob's now, and only bob's.
    moved = await register(client, bob, "apns", IOS_TOKEN)
    assert moved["id"] == ios["id"]
    assert [d["id"] for d in (await client.get(DEVICES, headers=alice)).json()] == [android["id"]]
    assert (await client.delete(f"{DEVICES}/{android['id']}", headers=bob)).status_code == 404
    assert (await client.delete(f"{DEVICES}/{android['id']}", headers=alice)).status_code == 204
    assert (await client.get(DEVICES, headers=alice)).json() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"provider": "pigeon", "platform": "ios", "token": IOS_TOKEN, "app_version": "1"}, 422),
        ({"provider": "apns", "platform": "ios", "token": "not-hex", "app_version": "1"}, 422),
        ({"provider": "apns", "platform": "android", "token": IOS_TOKEN, "app_version": "1"}, 422),
        ({"provider": "fcm", "platform": "android", "token": "x", "app_version": "1"}, 422),
        ({"provider": "fcm", "platform": "android", "token": ANDROID_TOKEN}, 400),
        ({"provider": "fcm", "platform": "android", "token": 5, "app_version": "1"}, 400),
        (
            {
                "provider": "fcm",
                "platform": "android",
                "token": ANDROID_TOKEN,
                "app_version": "1",
                "user_id": "bob",
            },
            400,
        ),
    ],
)
async def test_bad_registrations_are_problems_and_write_nothing(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any, body: Any, status: int
) -> None:
    response = await client.post(DEVICES, json=body, headers=issuer.headers("carol", RW))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await mongo["devices"].count_documents({}) == 0


async def test_a_notification_is_pushed_once_to_every_device(
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    redis: Any,
    mongo: Any,
    fcm: FcmFake,
    apns: ApnsFake,
) -> None:
    dave = issuer.headers("dave", RW)
    await register_both(client, dave)
    await award(redis, "dave")

    async def pushed() -> bool:
        return len(fcm.sent) == 1 and len(apns.sent) == 1

    await eventually(pushed)

    await all_delivered(mongo)
    assert fcm.tokens_issued == 1  # an OAuth bearer from the service-account key
    [android] = fcm.sent
    assert android["token"] == ANDROID_TOKEN
    assert android["notification"]["title"] == "Badge earned: First step"
    assert android["data"]["kind"] == "badge"
    [ios] = apns.sent
    assert ios["token"] == IOS_TOKEN
    assert ios["headers"]["apns-topic"] == apns.topic
    assert ios["headers"]["apns-push-type"] == "alert"
    assert ios["payload"]["aps"]["alert"]["title"] == "Badge earned: First step"
    assert fcm.refused == apns.refused == []

    log = await push_attempts(mongo)
    assert sorted((a["provider"], a["outcome"]) for a in log) == [
        ("apns", "delivered"),
        ("fcm", "delivered"),
    ]
    assert IOS_TOKEN not in repr(log)
    assert ANDROID_TOKEN not in repr(log)


async def test_dead_tokens_are_deleted(
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    redis: Any,
    mongo: Any,
    fcm: FcmFake,
    apns: ApnsFake,
) -> None:
    erin = issuer.headers("erin", RW)
    await register_both(client, erin)
    apns.gone.add(IOS_TOKEN)
    fcm.unregistered.add(ANDROID_TOKEN)
    await award(redis, "erin")

    async def forgotten() -> bool:
        return (await client.get(DEVICES, headers=erin)).json() == []

    await eventually(forgotten)
    assert apns.refused == [(410, "Unregistered")]
    assert fcm.refused == [(404, "UNREGISTERED")]
    assert sorted(a["outcome"] for a in await push_attempts(mongo)) == ["invalid", "invalid"]


async def test_throttled_pushes_wait_for_retry_after_and_reach_each_device_once(
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    redis: Any,
    mongo: Any,
    fcm: FcmFake,
    apns: ApnsFake,
) -> None:
    frank = issuer.headers("frank", RW)
    await register_both(client, frank)
    fcm.throttle, fcm.retry_after = 1, 2
    await award(redis, "frank")

    async def pushed() -> bool:
        return len(fcm.sent) == 1

    await eventually(pushed)
    # The fake has the message before the service records the send and retires the delivery.
    await all_delivered(mongo)
    assert len(apns.sent) == 1  # reached on the first attempt, not pushed again
    assert fcm.refused == [(429, "QUOTA_EXCEEDED")]
    log = sorted(await push_attempts(mongo), key=lambda a: a["at"])
    retry = next(a for a in log if a["outcome"] == "retry")
    assert retry["status"] == 429
    delivered = next(a for a in log if a["provider"] == "fcm" and a["outcome"] == "delivered")
    # Retry-After: 2 beat the 0.2 s back-off of the test settings.
    assert (delivered["at"] - retry["at"]).total_seconds() >= 1.9
    job_log = await mongo["delivery_attempts"].find({"device_id": {"$exists": False}}).to_list()
    push_jobs = [a for a in job_log if a["channel"] == "push"]
    assert [a["outcome"] for a in sorted(push_jobs, key=lambda a: a["at"])] == [
        "failed",
        "delivered",
    ]


async def test_push_waits_for_the_end_of_quiet_hours(
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    redis: Any,
    mongo: Any,
    fcm: FcmFake,
    apns: ApnsFake,
) -> None:
    gina = issuer.headers("gina", RW)
    await register(client, gina, "fcm", ANDROID_TOKEN)
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    changed = await client.patch(
        "/api/notifications/preferences",
        json={"quiet_hours": window, "time_zone": "UTC"},
        headers=gina,
    )
    assert changed.status_code == 200, changed.text
    await award(redis, "gina")

    async def in_inbox() -> bool:
        return await mongo["notifications"].count_documents({"user_id": "gina"}) == 1

    await eventually(in_inbox)
    [held] = await mongo["deliveries"].find({"channel": "push"}).to_list()
    until = held["not_before"].replace(tzinfo=UTC)
    assert until - now > timedelta(hours=1, minutes=58)
    assert fcm.sent == []


async def test_pushes_per_user_are_capped_and_the_rest_stay_in_the_inbox(
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    redis: Any,
    mongo: Any,
    fcm: FcmFake,
) -> None:
    hana = issuer.headers("hana", RW)
    await register(client, hana, "fcm", ANDROID_TOKEN)
    for i in range(3):  # the cap (3 an hour in these settings)
        await award(redis, "hana", f"badge-{i}")

        async def pushed(n: int = i + 1) -> bool:
            """the push recorded as delivered (the cap counts those records, written after
            the fake has the message)"""
            recorded = await mongo["delivery_attempts"].count_documents(
                {"channel": "push", "device_id": {"$exists": False}, "outcome": "delivered"}
            )
            return len(fcm.sent) == n and recorded == n

        await eventually(pushed)
    await award(redis, "hana", "badge-3")

    async def capped() -> bool:
        return await mongo["delivery_attempts"].count_documents({"outcome": "capped"}) == 1

    await eventually(capped)
    assert len(fcm.sent) == 3
    assert await mongo["notifications"].count_documents({"user_id": "hana"}) == 4

    await all_delivered(mongo)


@dataclass
class Clock:
    """The time both replicas see; the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def replicas(settings: NotificationSettings, clock: Clock) -> AsyncIterator[list[Deliveries]]:
    """Two processes' deliveries (each its own clients) on the shared servers, on one clock."""
    platforms = [await Platform.open(settings) for _ in range(2)]
    built = [await build(platform) for platform in platforms]
    for services in built:
        services.deliveries.clock = clock
    yield [services.deliveries for services in built]
    for services, platform in zip(built, platforms, strict=True):
        await services.close()
        await platform.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))


async def test_concurrent_deliveries_never_push_more_than_the_cap(
    replicas: list[Deliveries], clock: Clock, mongo: Any, fcm: FcmFake
) -> None:
    """Two replicas deliver twelve notifications to one user at once, with one slot held by
    a process that died after reserving it and one push throttled by FCM: the cap (3 an
    hour) holds exactly; the throttled push's retry is not counted twice; the dead process's
    slot is free after the lease, and the hour's slots after the hour."""
    one, two = replicas
    await one.store.push_cap.reserve(  # what a process that died mid-push left
        "olga", "dead:push", per_hour=3, lease=service.LEASE, now=clock()
    )
    assert one.devices is not None
    await one.devices.register(
        new_device(
            user_id="olga",
            provider="fcm",
            platform="android",
            token=ANDROID_TOKEN,
            app_version="1.4.0",
            now=clock(),
        )
    )
    fcm.throttle, fcm.retry_after = 1, 1
    badge = Draft("badge", "A badge", "well done")

    async def notify(deliveries: Deliveries, event: str) -> None:
        await deliveries.notify("olga", event, "gamification.badge_awarded", badge)

    await asyncio.gather(*(notify(replicas[i % 2], f"e{i}") for i in range(12)))

    async def outcomes() -> list[str]:
        found = (
            await mongo["delivery_attempts"]
            .find({"channel": "push", "device_id": {"$exists": False}})
            .to_list()
        )
        return sorted(a["outcome"] for a in found)

    # The dead process holds one slot: two pushes reserved, one of them throttled.
    assert await outcomes() == ["capped"] * 10 + ["delivered", "failed"]
    assert len(fcm.sent) == 1
    clock.now += timedelta(seconds=5)  # past Retry-After: the throttled push goes out
    await asyncio.gather(one.sweep(), two.sweep())
    assert len(fcm.sent) == 2
    assert await one.store.pending() == []
    await notify(one, "e12")  # the dead process's slot still held: capped
    assert len(fcm.sent) == 2
    clock.now += service.LEASE  # its lease is over: the slot is free, once
    await notify(two, "e13")
    await notify(one, "e14")
    assert len(fcm.sent) == 3
    clock.now += timedelta(hours=1)  # an hour after those pushes: room again
    await notify(one, "e15")
    assert len(fcm.sent) == 4
    assert (await outcomes()).count("capped") == 12


async def test_a_push_waits_while_its_cap_is_unreachable(
    replicas: list[Deliveries], clock: Clock, mongo: Any, fcm: FcmFake
) -> None:
    """The cap's Redis does not answer (port 9: nothing listens): nothing is pushed
    uncounted; the delivery waits like one whose provider is down, then goes out once."""
    one = replicas[0]
    assert one.devices is not None
    await one.devices.register(
        new_device(
            user_id="pia",
            provider="fcm",
            platform="android",
            token=ANDROID_TOKEN,
            app_version="1.4.0",
            now=clock(),
        )
    )
    working = one.store.push_cap
    cut_off = Redis(host="127.0.0.1", port=9, socket_connect_timeout=1)
    one.store.push_cap = PushCap(cut_off)
    await one.notify("pia", "e1", "gamification.badge_awarded", Draft("badge", "B", "b"))
    [waiting] = await one.store.pending()
    assert (waiting["channel"], waiting["failures"]) == ("push", 1)
    assert fcm.sent == []
    one.store.push_cap = working
    clock.now += timedelta(seconds=5)
    assert await one.sweep() == 1
    assert len(fcm.sent) == 1
    assert await one.store.pending() == []
    await cut_off.aclose()


def apns_sender(apns: ApnsFake, http: httpx.AsyncClient) -> ApnsSender:
    return ApnsSender(
        http,
        team_id=apns.team_id,
        key_id=apns.key_id,
        key_pem=apns.key_pem(),
        topic=apns.topic,
        endpoint=apns.url,
    )


async def test_apns_is_reached_over_tls_only_with_the_configured_ca(
    apns: ApnsFake, ca: TestCA, tmp_path: Path
) -> None:
    """The fake's certificate is trusted through APNS_CA_FILE and nothing else: the public
    CAs (the default) refuse it, and so does another CA; h2 is negotiated by ALPN."""
    device = Device(
        id="d1",
        user_id="wes",
        provider="apns",
        platform="ios",
        token=IOS_TOKEN,
        app_version="1.0",
        registered_at=datetime.now(UTC),
    )
    push = Push(title="T", body="B", data={}, collapse_id="n1")
    (tmp_path / "other").mkdir()
    stranger = TestCA(tmp_path / "other")
    for ca_file, expected in (("", "retry"), (str(stranger.ca_file), "retry")):
        async with httpx.AsyncClient(http1=False, http2=True, verify=trust(ca_file)) as http:
            outcome = await apns_sender(apns, http).send(device, push)
        assert outcome.result == expected
        assert outcome.reason == "APNs unreachable: ConnectError"
    assert apns.sent == []
    async with httpx.AsyncClient(http1=False, http2=True, verify=trust(str(ca.ca_file))) as http:
        outcome = await apns_sender(apns, http).send(device, push)
        assert outcome.result == "delivered"
    [sent] = apns.sent
    assert sent["headers"]["apns-topic"] == apns.topic


async def test_an_apns_client_that_will_not_speak_h2_is_refused(apns: ApnsFake, ca: TestCA) -> None:
    context = ssl.create_default_context(cafile=str(ca.ca_file))
    context.set_alpn_protocols(["http/1.1"])
    reader, writer = await asyncio.open_connection("127.0.0.1", apns.port, ssl=context)
    assert await reader.read() == b""  # closed without a word of HTTP
    writer.close()
    assert apns.refused_connections == 1


async def test_fcm_and_its_token_endpoint_are_reached_over_tls_with_the_configured_ca(
    fcm: FcmFake, ca: TestCA
) -> None:
    device = Device(
        id="d2",
        user_id="xia",
        provider="fcm",
        platform="android",
        token=ANDROID_TOKEN,
        app_version="1.0",
        registered_at=datetime.now(UTC),
    )
    push = Push(title="T", body="B", data={"k": "v"}, collapse_id="n2")
    key = fcm.service_account()
    async with httpx.AsyncClient(verify=trust("")) as http:
        untrusted = FcmSender(http, project_id=fcm.project_id, key=key, endpoint=fcm.url)
        refused = await untrusted.send(device, push)
    assert refused.result == "retry"
    assert "SSL" in refused.reason or "certificate" in refused.reason.lower()
    assert (fcm.tokens_issued, fcm.sent) == (0, [])
    async with httpx.AsyncClient(verify=trust(str(ca.ca_file))) as http:
        sender = FcmSender(
            http, project_id=fcm.project_id, key=key, endpoint=fcm.url, ca_file=str(ca.ca_file)
        )
        assert (await sender.send(device, push)).result == "delivered"
    assert fcm.tokens_issued == 1
    assert [m["token"] for m in fcm.sent] == [ANDROID_TOKEN]
