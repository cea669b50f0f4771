"""Which events reach which room, in what shape, and how late."""

from __future__ import annotations

from datetime import datetime

from deepiri_kit.contracts import Event
from websocket_service.events.publish import ClientEvent

ROOM_PREFIX = "user:"


def room_of(user_id: str) -> str:
    """Every socket of a user, on any pod, is in this room."""
    return f"{ROOM_PREFIX}{user_id}"


def client_event(
    *, event_id: str, occurred_at: datetime, event: Event, traceparent: str | None
) -> ClientEvent:
    """The payload a client receives: the event's data as its contract declares it (fields
    a newer producer added and the contract does not know are left out, so the schema stays
    what the docs say)."""
    return ClientEvent(
        type=event.TYPE,
        id=event_id,
        occurred_at=occurred_at,
        data=event.data(),
        traceparent=traceparent,
    )


def delivery_lag(occurred_at: datetime, now: datetime) -> float:
    """Seconds from the event to its emission (never negative: clocks of hosts differ)."""
    return max(0.0, (now - occurred_at).total_seconds())
