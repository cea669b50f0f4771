from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from deepiri_kit.contracts import Event
from deepiri_kit.tracing import inject_traceparent


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """What travels on the bus. ``id`` is globally unique and is the idempotency key."""

    id: str
    type: str
    occurred_at: datetime
    source: str
    user_id: str | None
    data: dict[str, Any]
    traceparent: str | None = None
    tracestate: str | None = None
    version: int = 1

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def decode(cls, raw: str | bytes) -> Envelope:
        return msgspec.json.decode(raw, type=cls)


def new_event(
    type: str,
    *,
    source: str,
    user_id: str | None,
    data: dict[str, Any],
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """An envelope stamped with the current trace context (call it inside the request span)."""
    carrier = inject_traceparent()
    return Envelope(
        id=event_id or uuid.uuid4().hex,
        type=type,
        occurred_at=occurred_at or datetime.now(UTC),
        source=source,
        user_id=user_id,
        data=data,
        traceparent=carrier.get("traceparent"),
        tracestate=carrier.get("tracestate"),
    )


def event_envelope(
    event: Event,
    *,
    source: str,
    user_id: str | None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """A contract's event (``deepiri_kit.contracts``) in its envelope: its ``TYPE``, its data
    encoded by the contract, stamped with the current trace context."""
    return new_event(
        event.TYPE,
        source=source,
        user_id=user_id,
        data=event.data(),
        event_id=event_id,
        occurred_at=occurred_at,
    )
