"""Presence on the harness's Redis: online while any socket of the user lives on any pod,
offline with a last-seen time when the last one leaves, and offline by itself when a pod
dies without saying so (entries expire unless renewed)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest

from support.apps import app_client
from support.sockets import connect, serving
from support.tokens import TokenIssuer
from support.waiting import eventually
from websocket_service.app import create_app
from websocket_service.settings import WebsocketSettings
from websocket_service.store.presence import PresenceStore, sockets_key

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
PRESENCE = "/socket.io/presence"


async def presence(http: httpx.AsyncClient, issuer: TokenIssuer, *ids: str) -> list[Any]:
    response = await http.get(
        PRESENCE, params=[("user_id", i) for i in ids], headers=issuer.headers("me", "users:read")
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
    """A pod that crashed never removes its entries; they expire with its heartbeats."""
    store = PresenceStore(redis, ttl_seconds=0.5, retention_days=1)
    await store.renew([("alice", "sid-on-dead-pod"), ("bob", "sid-1")])
    [alice, bob] = await store.presence(["alice", "bob"])
    assert alice.online
    assert bob.online
    await store.renew([("bob", "sid-1")])  # bob's pod lives on
    await asyncio.sleep(0.6)
    await store.renew([("bob", "sid-1")])
    [alice, bob] = await store.presence(["alice", "bob"])
    assert (alice.online, bob.online) == (False, True)
    assert alice.last_seen is not None
    await asyncio.sleep(0.3)
    assert await redis.zcard(sockets_key("alice")) == 0, "the key expired with its last entry"


async def test_the_heartbeat_keeps_a_connected_user_online(
    settings: WebsocketSettings, issuer: TokenIssuer, redis: Any
) -> None:
    quick = dataclasses.replace(settings, presence_ttl_seconds=0.6, presence_heartbeat_seconds=0.2)
    app = create_app(quick)
    async with serving(app) as url, app_client(app) as http:
        socket = await connect(url, auth={"token": issuer.token("alice")})
        await asyncio.sleep(1.5)  # more than twice the entry's lifetime
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
    async with serving(create_app(settings)) as url:
        socket = await connect(url, auth={"token": issuer.token("alice")})
        await socket.client.disconnect()
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"{url}/metrics")).text
    for name in (
        "deepiri_websocket_sockets",
        'deepiri_websocket_connects_total{outcome="accepted"}',
        "deepiri_websocket_disconnects_total{reason=",
        "deepiri_websocket_delivery_lag_seconds_bucket",
    ):
        assert name in text, name


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
                PRESENCE, params={"user_id": "alice"}, headers=issuer.headers("me", "users:read")
            )
            return response.status_code == 200 and response.json()[0]["online"] is True

        await eventually(recorded, timeout=20)
        await socket.client.disconnect()
