"""The in-app emit reaches a real Socket.IO client: a python-socketio server wired as
websocket-service wires it (ASGI, ``AsyncRedisManager`` on the shared channel, each socket in
``user:<sub>``), served by uvicorn (wsproto) on loopback, and python-socketio's own client connected to
it. notification-service's write-only manager publishes; the server's manager delivers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio
import uvicorn

from deepiri_kit.contracts.gamification import BadgeAwarded
from deepiri_kit.events import EventBus, event_envelope
from infra import free_port
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
async def socket_server(redis: Any, socket_channel: str) -> AsyncIterator[str]:
    port = redis.connection_pool.connection_kwargs["port"]
    manager = socketio.AsyncRedisManager(f"redis://127.0.0.1:{port}/0", channel=socket_channel)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any]) -> None:
        await sio.enter_room(sid, f"user:{auth['user']}")

    listen = free_port()
    config = uvicorn.Config(
        socketio.ASGIApp(sio), host="127.0.0.1", port=listen, log_level="error", ws="wsproto"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{listen}"
    finally:
        server.should_exit = True
        await task


async def connected(url: str, user: str, received: list[dict[str, Any]]) -> socketio.AsyncClient:
    client = socketio.AsyncClient()

    @client.on("notification.created")
    async def on_notification(payload: dict[str, Any]) -> None:
        received.append(payload)

    # WebSocket only, as websocket-service's clients connect.
    await client.connect(url, auth={"user": user}, transports=["websocket"], wait_timeout=10)
    return client


async def test_a_notification_reaches_the_users_socket_and_no_one_elses(
    client: httpx.AsyncClient, redis: Any, socket_server: str
) -> None:
    alice_got: list[dict[str, Any]] = []
    bob_got: list[dict[str, Any]] = []
    alice = await connected(socket_server, "alice", alice_got)
    bob = await connected(socket_server, "bob", bob_got)
    try:
        event = BadgeAwarded(
            user_id="alice",
            badge_id="first-step",
            name="First step",
            description="Your first completed task",
            category="milestones",
            rarity="common",
        )
        envelope = event_envelope(event, source="tests", user_id="alice", event_id=uuid.uuid4().hex)
        await EventBus(redis).publish("events.gamification", envelope)

        async def arrived() -> bool:
            return len(alice_got) == 1

        await eventually(arrived)
        [payload] = alice_got
        assert payload["type"] == "notification.created"
        assert payload["data"]["title"] == "Badge earned: First step"
        assert payload["data"]["unread_count"] == 1
        assert bob_got == []
    finally:
        await alice.disconnect()
        await bob.disconnect()
