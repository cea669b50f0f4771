"""websocket-service's rules, without servers: handshake tokens, refusals, session ends,
payloads, lag and presence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from deepiri_kit.contracts import gamification, tasks
from websocket_service.domain.deliveries import client_event, delivery_lag, room_of
from websocket_service.domain.presence import expiry_ms, presence_of, unique_ids
from websocket_service.domain.sessions import (
    REFUSALS,
    Refused,
    bearer_token,
    ending_of,
    refusal_for,
    seconds_left,
)
from websocket_service.events.publish import ClientEvent

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_the_handshake_token_comes_from_auth_first_then_the_header() -> None:
    assert bearer_token({"token": " abc "}, "Bearer other") == "abc"
    assert bearer_token(None, "Bearer xyz") == "xyz"
    assert bearer_token({}, "bearer xyz") == "xyz"


@pytest.mark.parametrize(
    ("auth", "header", "reason"),
    [
        (None, None, "missing_token"),
        ({}, "Basic dXNlcjpwYXNz", "missing_token"),
        ("a string", "Bearer ", "missing_token"),
        ({"token": ""}, "Bearer fine", "invalid_token"),  # a bad auth.token is not skipped
        ({"token": 42}, None, "invalid_token"),
    ],
)
def test_handshakes_without_a_usable_token_are_refused(
    auth: object, header: str | None, reason: str
) -> None:
    with pytest.raises(Refused) as refused:
        bearer_token(auth, header)
    assert refused.value.reason == reason
    assert refused.value.reason in REFUSALS


def test_the_verifiers_reasons_become_refusals() -> None:
    assert refusal_for("token expired").reason == "token_expired"
    unknown = refusal_for("unknown signing key")
    assert (unknown.reason, unknown.message) == ("invalid_token", "unknown signing key")
    assert seconds_left(100.0, 99.5) == 0.5
    assert seconds_left(100.0, 130.0) < 0  # the verifier's skew leeway does not extend it


def test_disconnect_reasons_are_bounded_names() -> None:
    assert ending_of("client disconnect") == "client"
    assert ending_of("ping timeout") == "ping_timeout"
    assert ending_of(None) == "transport_close"
    assert ending_of("something new") == "transport_close"


def test_the_client_payload_is_the_documented_schema() -> None:
    event = tasks.TaskCompleted(
        task_id="t1", kind="todo", difficulty="easy", completed_at=NOW, streak=tasks.Streak()
    )
    payload = client_event(event_id="e1", occurred_at=NOW, event=event, traceparent="00-a-b-01")
    wire = msgspec.json.decode(msgspec.json.encode(payload))
    assert list(wire) == ["type", "id", "occurred_at", "data", "traceparent"]
    assert wire["type"] == "task.completed"
    assert wire["occurred_at"] == "2026-11-30T12:00:00Z"
    assert wire["data"]["streak"] == {"current": 0, "best": 0}
    assert msgspec.convert(wire, ClientEvent).data == wire["data"]
    level = gamification.STREAM.types[gamification.LEVEL_UP]
    assert level.TYPE == "gamification.level_up"
    assert room_of("alice") == "user:alice"


def test_delivery_lag_is_never_negative() -> None:
    assert delivery_lag(NOW, NOW + timedelta(milliseconds=250)) == 0.25
    assert delivery_lag(NOW, NOW - timedelta(seconds=1)) == 0.0


def test_presence_from_live_sockets_and_last_seen() -> None:
    online = presence_of("a", 2, 1_796_040_000_000)
    assert online.online
    assert online.last_seen == datetime.fromtimestamp(1_796_040_000, UTC)
    assert presence_of("b", 0, None).online is False
    assert expiry_ms(1000, 1.5) == 2500
    assert unique_ids(["b", "a", "b"]) == ["b", "a"]
