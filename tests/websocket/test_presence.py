"""Presence on the harness's Redis: online while any socket of the user lives on any pod,
offline with a last-seen time when the last one leaves, and offline by itself when a pod
dies without saying so (entries expire unless renewed). Shown to friends only — friends as
user-service's ``events.social`` says — who are told when a friend comes online or goes
offline, also when the friend's pod died (any pod's reaper, exactly once)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deepiri_kit.contracts import social, users
from deepiri_kit.events import EventBus, event_envelope
from support.apps import app_client
from support.sockets import connect, serving
from support.streams import drained
from support.tokens import TokenIssuer
from support.waiting import eventually
from websocket_service.app import create_app
from websocket_service.settings import WebsocketSettings
from websocket_service.store.presence import PresenceStore, sockets_key

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
PRESENCE = "/socket.io/presence"


def service_headers(issuer: TokenIssuer) -> dict[str, str]:
    """A service's token (client credentials: its subject is its client id) may ask about
    anyone."""
    return issuer.headers("deepiri-web", "users:read")


async def presence(http: httpx.AsyncClient, issuer: TokenIssuer, *ids: str) -> list[Any]:
    response = await http.get(
        PRESENCE, params=[("user_id", i) for i in ids], headers=service_headers(issuer)
    )
    assert response.status_code == 200, response.text
    body: list[Any] = response.json()
    return body


async def test_online_on_any_pod_offline_with_last_seen_after_the_last_socket(
    settings: WebsocketSettings, issuer: TokenIssuer, redis: Any
) -> None:
    pod_a, pod_b = create_app(settings), create_app(settings)
    async with serving(pod_a) as url_a, serving(pod_b) as url_b, app_client(pod_a) as http:
        assert await presence(http, issuer, "alice", "bob") == [
            {"user_id": "alice", "online": False, "last_seen": None},
            {"user_id": "bob", "online": False, "last_seen": None},
        ]
        on_a = await connect(url_a, auth={"token": issuer.token("alice")})
        on_b = await connect(url_b, auth={"token": issuer.token("alice")})
        [alice, bob] = await presence(http, issuer, "alice", "bob")
        assert alice["online"] is True
        assert alice["last_seen"] is not None
        assert bob["online"] is False
        await on_a.client.disconnect()

        async def still_online_on_b() -> bool:
            return await redis.zcard(sockets_key("alice")) == 1

        await eventually(still_online_on_b)
        assert (await presence(http, issuer, "alice"))[0]["online"] is True
        await on_b.client.disconnect()

        async def offline() -> bool:
            return (await presence(http, issuer, "alice"))[0]["online"] is False

        await eventually(offline)
        assert (await presence(http, issuer, "alice"))[0]["last_seen"] is not None


async def test_a_dead_pods_sockets_stop_counting_by_themselves(redis: Any) -> None:
    """A pod that crashed never removes its entries; they expire with its heartbeats. (The
    lifetime, 2 s, is long beside a loaded machine's pauses between a renewal and the read
    that expects it live; the waits past it hold on any machine.)"""
    store = PresenceStore(redis, ttl_seconds=2.0, retention_days=1)
    await store.renew([("alice", "sid-on-dead-pod"), ("bob", "sid-1")])
    [alice, bob] = await store.presence(["alice", "bob"])
    assert alice.online
    assert bob.online
    await store.renew([("bob", "sid-1")])  # bob's pod lives on
    await asyncio.sleep(2.1)
    await store.renew([("bob", "sid-1")])
    [alice, bob] = await store.presence(["alice", "bob"])
    assert (alice.online, bob.online) == (False, True)
    assert alice.last_seen is not None
    await asyncio.sleep(0.3)
    assert await redis.zcard(sockets_key("alice")) == 0, "the key expired with its last entry"


async def test_the_heartbeat_keeps_a_connected_user_online(
    settings: WebsocketSettings, issuer: TokenIssuer, redis: Any
) -> None:
    # Ten heartbeats per lifetime: a loaded machine may delay a few, not all of them.
    quick = dataclasses.replace(settings, presence_ttl_seconds=2.0, presence_heartbeat_seconds=0.2)
    app = create_app(quick)
    async with serving(app) as url, app_client(app) as http:
        socket = await connect(url, auth={"token": issuer.token("alice")})
        await asyncio.sleep(4.5)  # more than twice the entry's lifetime
        assert (await presence(http, issuer, "alice"))[0]["online"] is True
        await socket.client.disconnect()


@pytest.mark.parametrize(
    "params",
    [[], [("user_id", "")], [("user_id", str(i)) for i in range(201)], [("user", "a")]],
)
async def test_bad_presence_queries_are_problems(
    client: httpx.AsyncClient, issuer: TokenIssuer, params: list[tuple[str, str]]
) -> None:
    response = await client.get(PRESENCE, params=params, headers=issuer.headers("me", "users:read"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_presence_needs_a_token_with_users_read(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    assert (await client.get(PRESENCE, params={"user_id": "a"})).status_code == 401
    other = issuer.headers("me", "tasks:read")
    assert (await client.get(PRESENCE, params={"user_id": "a"}, headers=other)).status_code == 403


async def test_health_metrics_and_openapi(
    settings: WebsocketSettings, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/livez")).status_code == 200
    schema = (await client.get("/socket.io/schema/openapi.json")).json()
    assert "/socket.io/presence" in schema["paths"]
    names = (
        "deepiri_websocket_sockets",
        'deepiri_websocket_connects_total{outcome="accepted"}',
        "deepiri_websocket_disconnects_total{reason=",
        "deepiri_websocket_delivery_lag_seconds_bucket",
    )
    async with serving(create_app(settings)) as url, httpx.AsyncClient() as http:
        socket = await connect(url, auth={"token": issuer.token("alice")})
        await socket.client.disconnect()

        async def exported() -> bool:
            """every metric exported (the server counts the disconnect after the client
            has left)"""
            text = (await http.get(f"{url}/metrics")).text
            return all(name in text for name in names)

        await eventually(exported)


async def test_sockets_connect_while_redis_is_down_and_presence_catches_up(
    settings: WebsocketSettings, issuer: TokenIssuer, own_servers: Any
) -> None:
    """Presence is best effort at connect: a Redis outage refuses nobody, and the heartbeat
    records the socket once Redis is back."""
    redis_server = own_servers.redis
    quick = dataclasses.replace(
        settings, redis_port=redis_server.port, presence_heartbeat_seconds=0.2
    )
    app = create_app(quick)
    async with serving(app) as url, app_client(app) as http:
        redis_server.stop()
        socket = await connect(url, auth={"token": issuer.token("alice")})
        assert socket.client.connected
        redis_server.start()

        async def recorded() -> bool:
            response = await http.get(
                PRESENCE, params={"user_id": "alice"}, headers=service_headers(issuer)
            )
            return response.status_code == 200 and response.json()[0]["online"] is True

        await eventually(recorded)
        await socket.client.disconnect()


async def publish_social(redis: Any, event: Any, at: datetime | None = None) -> None:
    """As user-service publishes a change of its social graph."""
    envelope = event_envelope(
        event, source="user-service", user_id=event.user_id, occurred_at=at or datetime.now(UTC)
    )
    await EventBus(redis).publish(social.STREAM.name, envelope)


async def answer(http: httpx.AsyncClient, issuer: TokenIssuer, viewer: str, *ids: str) -> Any:
    return await http.get(
        PRESENCE, params=[("user_id", i) for i in ids], headers=issuer.headers(viewer, "users:read")
    )


async def test_presence_is_shown_to_friends_as_the_social_graph_says(
    settings: WebsocketSettings, issuer: TokenIssuer, redis: Any
) -> None:
    app = create_app(settings)
    async with app_client(app) as http:
        refused = await answer(http, issuer, "me", "alice")
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "alice" in refused.json()["detail"]
        added = datetime.now(UTC)
        await publish_social(redis, social.FriendAdded(user_id="alice", friend_id="me"), added)

        async def friends() -> bool:
            return (await answer(http, issuer, "me", "alice")).status_code == 200

        await eventually(friends)  # both ways: alice sees me too
        assert (await answer(http, issuer, "alice", "me", "alice")).status_code == 200
        mine = await http.get(f"{PRESENCE}/friends", headers=issuer.headers("me", "users:read"))
        assert mine.json() == [{"user_id": "alice", "online": False, "last_seen": None}]
        # Anyone else is still hidden, even asked about beside a friend.
        assert (await answer(http, issuer, "me", "alice", "bob")).status_code == 403

        removed = added + timedelta(seconds=1)
        await publish_social(
            redis,
            social.FriendRemoved(user_id="me", friend_id="alice", reason="unfriended"),
            removed,
        )

        async def separated() -> bool:
            return (await answer(http, issuer, "alice", "me")).status_code == 403

        await eventually(separated)
        # A late, redelivered friend_added from before the removal changes nothing.
        await publish_social(redis, social.FriendAdded(user_id="alice", friend_id="me"), added)
        await publish_social(redis, social.Blocked(user_id="carol", blocked_id="me"))
        await publish_social(redis, social.FriendAdded(user_id="dave", friend_id="me"))

        async def dave() -> bool:
            return (await answer(http, issuer, "me", "dave")).status_code == 200

        await eventually(dave)  # the events after it were handled: the late one was too
        assert (await answer(http, issuer, "me", "alice")).status_code == 403
        # A deleted account is nobody's friend.
        deleted = event_envelope(
            users.UserDeleted(user_id="dave"), source="user-service", user_id="dave"
        )
        await EventBus(redis).publish(users.STREAM.name, deleted)

        async def dave_gone() -> bool:
            return (await answer(http, issuer, "me", "dave")).status_code == 403

        await eventually(dave_gone)


async def test_friends_are_told_when_a_friend_comes_online_and_goes_offline(
    settings: WebsocketSettings, issuer: TokenIssuer, redis: Any
) -> None:
    await publish_social(redis, social.FriendAdded(user_id="alice", friend_id="bob"))
    pod_a, pod_b = create_app(settings), create_app(settings)
    async with serving(pod_a) as url_a, serving(pod_b) as url_b:

        async def befriended() -> bool:
            # Handled and acknowledged: what it tells bob's room is out before bob connects.
            return await drained(redis, social.STREAM.name, "websocket-service")

        await eventually(befriended)
        bob = await connect(url_a, auth={"token": issuer.token("bob")})
        carol = await connect(url_b, auth={"token": issuer.token("carol")})
        [snapshot] = await bob.wait_for("presence:friends")
        assert snapshot == {"friends": [{"user_id": "alice", "online": False, "last_seen": None}]}
        assert (await carol.wait_for("presence:friends"))[0] == {"friends": []}

        first = await connect(url_b, auth={"token": issuer.token("alice")})
        [online] = await bob.wait_for("presence:changed")
        assert online["user_id"] == "alice"
        assert online["online"] is True
        assert online["last_seen"] is not None
        [alices] = await first.wait_for("presence:friends")
        assert [(f["user_id"], f["online"]) for f in alices["friends"]] == [("bob", True)]
        # A second socket of alice, on the other pod, changes nothing for bob.
        second = await connect(url_a, auth={"token": issuer.token("alice")})
        await first.client.disconnect()
        await second.wait_for("presence:friends")
        await second.client.disconnect()
        changes = await bob.wait_for("presence:changed", count=2)
        assert [(c["user_id"], c["online"]) for c in changes] == [("alice", True), ("alice", False)]
        await asyncio.sleep(0.3)
        assert len(bob.of("presence:changed")) == 2
        assert carol.of("presence:changed") == []
        await bob.client.disconnect()
        await carol.client.disconnect()


async def test_a_dead_pods_user_goes_offline_for_friends_once_whichever_pod_reaps(
    settings: WebsocketSettings, issuer: TokenIssuer, redis: Any
) -> None:
    await publish_social(redis, social.FriendAdded(user_id="alice", friend_id="bob"))
    quick = dataclasses.replace(settings, presence_reap_seconds=0.1)
    pod_a, pod_b = create_app(quick), create_app(quick)
    async with serving(pod_a) as url_a, serving(pod_b):

        async def befriended() -> bool:
            # Handled and acknowledged: what it tells bob's room is out before bob connects.
            return await drained(redis, social.STREAM.name, "websocket-service")

        await eventually(befriended)
        bob = await connect(url_a, auth={"token": issuer.token("bob")})
        # alice's socket is on a pod that dies: its entry is never removed, only expires.
        dead_pod = PresenceStore(redis, ttl_seconds=0.5, retention_days=1)
        assert await dead_pod.renew([("alice", "sid-on-dead-pod")]) == ["alice"]
        changes = await bob.wait_for("presence:changed", count=1)
        assert changes[0]["online"] is False  # bob connected after alice came online
        await asyncio.sleep(0.5)  # both pods reap every 0.1 s
        assert [(c["user_id"], c["online"]) for c in bob.of("presence:changed")] == [
            ("alice", False)
        ]
        assert await redis.zscore("presence:online", "alice") is None
        await bob.client.disconnect()
