"""What notification-service publishes: a ``notification.created`` Socket.IO event to the
user's room (``user:<sub>``), in websocket-service's client payload schema
(``{type, id, occurred_at, data, traceparent}``; docs/services/websocket-service.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from opentelemetry import propagate

__all__ = ["NOTIFICATION_CREATED", "ClientEvent", "client_event", "current_traceparent", "room"]

NOTIFICATION_CREATED = "notification.created"


class ClientEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A Socket.IO event as the client receives it (websocket-service's ``ClientEvent``)."""

    type: str
    id: str
    occurred_at: datetime
    data: dict[str, Any]
    traceparent: str | None = None


def room(user_id: str) -> str:
    return f"user:{user_id}"


def current_traceparent() -> str | None:
    """The current trace context (W3C), to keep with work done later."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def client_event(
    notification_id: str, occurred_at: datetime, data: dict[str, Any], traceparent: str | None
) -> ClientEvent:
    """The id is the notification's: a retried emit is recognisably the same one. The trace
    of the event that made the notification rides along (Socket.IO carries none of its own),
    even when a later retry emits it."""
    return ClientEvent(
        type=NOTIFICATION_CREATED,
        id=notification_id,
        occurred_at=occurred_at,
        data=data,
        traceparent=traceparent,
    )
