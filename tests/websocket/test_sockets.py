"""Sockets through the real server (uvicorn in-process, real WebSockets) on the harness's
Redis: who may connect and why not, delivery of the platform's events to the user's room,
token lifetimes, the WebSocket-only rule."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
import socketio
from litestar import Litestar

from deepiri_kit.contracts import tasks
from deepiri_kit.events import Envelope, EventBus, event_envelope
from support.sockets import connect, serving
from support.tokens import TokenIssuer
from support.waiting import eventually
from websocket_service.app import create_app
from websocket_service.settings import WebsocketSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def completed(task_id: str = "t1") -> tasks.TaskCompleted:
    return tasks.TaskCompleted(
        task_id=task_id, kind="todo", difficulty="easy", completed_at=NOW, title="Write it"
    )


async def publish_completion(redis: Any, user_id: str, task_id: str = "t1") -> Envelope:
    envelope = event_envelope(completed(task_id), source="task-service", user_id=user_id)
    envelope = msgspec.structs.replace(envelope, traceparent=TRACEPARENT)
    await EventBus(redis).publish(tasks.STREAM.name, envelope)
    return envelope


async def test_a_users_socket_receives_their_events_with_the_documented_payload(
    app: Litestar, issuer: TokenIssuer, redis: Any
) -> None:
    async with serving(app) as url:
        alice = await connect(url, auth={"token": issuer.token("alice")})
        bob = await connect(url, headers={"Authorization": f"Bearer {issuer.token('bob')}"})
        try:
            sent = await publish_completion(redis, "alice")
            [payload] = await alice.wait_for("task.completed")
            assert set(payload) == {"type", "id", "occurred_at", "data", "traceparent"}
            assert (payload["type"], payload["id"]) == ("task.completed", sent.id)
            assert payload["data"] == completed().data()
            datetime.fromisoformat(payload["occurred_at"])
            # The delivery's own span, in the trace the event started.
            trace_id = payload["traceparent"].split("-")[1]
            assert trace_id == TRACEPARENT.split("-")[1]
            assert payload["traceparent"] != TRACEPARENT
            # The same event again (a producer's retry) is not shown twice; bob sees none of
            # alice's. The stream is handled in order, so once bob's arrived, it was skipped.
            await EventBus(redis).publish(tasks.STREAM.name, sent)
            await publish_completion(redis, "bob", "t2")
            await bob.wait_for("task.completed")
            assert len(alice.of("task.completed")) == 1
            assert [p["data"]["task_id"] for p in bob.of("task.completed")] == ["t2"]
        finally:
            await alice.client.disconnect()
            await bob.client.disconnect()


async def refusal(url: str, **kw: Any) -> dict[str, Any]:
    with pytest.raises(socketio.exceptions.ConnectionError) as caught:
        await connect(url, **kw)
    [data] = caught.value.recorder.refused  # type: ignore[attr-defined]
    assert isinstance(data, dict), data
    return data


async def test_bad_tokens_are_refused_at_connect_with_a_reason(
    app: Litestar, issuer: TokenIssuer, redis: Any
) -> None:
    async with serving(app) as url:
        missing = await refusal(url)
        assert missing["data"]["reason"] == "missing_token"
        expired = await refusal(url, auth={"token": issuer.token("alice", lifetime=-120)})
        assert expired["data"]["reason"] == "token_expired"
        assert "expired" in expired["message"]
        forged = issuer.token("alice")[:-4] + "AAAA"
        assert (await refusal(url, auth={"token": forged}))["data"]["reason"] == "invalid_token"
        service = issuer.token("deepiri-web")  # client credentials: sub = client_id
        assert (await refusal(url, auth={"token": service}))["data"]["reason"] == "not_a_user"
        wrong_type = issuer.token("alice", typ="JWT")
        assert (await refusal(url, auth={"token": wrong_type}))["data"]["reason"] == (
            "invalid_token"
        )
        assert (await refusal(url, auth={"token": 7}))["data"]["reason"] == "invalid_token"


async def test_long_polling_is_refused_with_a_problem_document(app: Litestar) -> None:
    async with serving(app) as url, httpx.AsyncClient() as http:
        response = await http.get(f"{url}/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "WebSocket transport only" in response.json()["detail"]


async def test_a_socket_ends_when_its_token_expires_unless_refreshed(
    app: Litestar, issuer: TokenIssuer
) -> None:
    # Long enough for two connects and a refresh on a loaded machine; the test then waits
    # past it (a token's expiry is whole seconds).
    lifetime = 5
    issued = time.monotonic()
    async with serving(app) as url:
        short = await connect(url, auth={"token": issuer.token("alice", lifetime=lifetime)})
        renewed = await connect(url, auth={"token": issuer.token("alice", lifetime=lifetime)})
        answer = await renewed.client.call(
            "auth:refresh", {"token": issuer.token("alice", lifetime=60)}, timeout=10
        )
        assert answer["ok"] is True
        other = await renewed.client.call(
            "auth:refresh", {"token": issuer.token("mallory", lifetime=60)}, timeout=10
        )
        assert (other["ok"], other["reason"]) == (False, "invalid_token")
        [notice] = await short.wait_for("auth:expired")
        assert notice["reason"] == "token_expired"

        async def ended() -> bool:
            return bool(short.disconnects)

        await eventually(ended)
        # Past the renewed socket's first token too (issued just after the short one's).
        await asyncio.sleep(max(0.0, issued + lifetime + 1 - time.monotonic()))
        assert renewed.client.connected
        await renewed.client.disconnect()


async def test_handshakes_are_refused_as_unavailable_while_the_keys_cannot_be_fetched(
    app: Litestar, issuer: TokenIssuer
) -> None:
    issuer.mode = "fail"  # user-service's JWKS answers 503
    try:
        async with serving(app) as url:
            refused = await refusal(url, auth={"token": issuer.token("alice")})
            assert refused["data"]["reason"] == "auth_unavailable"
    finally:
        issuer.mode = "ok"


async def test_an_address_that_keeps_failing_handshakes_is_limited(
    settings: WebsocketSettings, issuer: TokenIssuer, redis: Any
) -> None:
    limited = dataclasses.replace(settings, rate_limit_per_minute=6, rate_limit_burst=2)
    async with serving(create_app(limited)) as url:
        reasons = [(await refusal(url, auth={"token": "junk"}))["data"]["reason"] for _ in range(4)]
        assert reasons[0] == "invalid_token"
        assert reasons[-1] == "rate_limited"
        # A valid token is still accepted: only failures are counted.
        ok = await connect(url, auth={"token": issuer.token("alice")})
        await ok.client.disconnect()
