"""The use cases: delivering an event to its user's sockets, and presence. No HTTP and no
Socket.IO here: the emitter is anything with Socket.IO's ``emit`` (the server, whose Redis
manager reaches every pod)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import msgspec
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from deepiri_kit import metrics, tracer, utcnow
from deepiri_kit.contracts import Event
from deepiri_kit.events import Envelope
from websocket_service.domain.deliveries import client_event, delivery_lag, room_of
from websocket_service.domain.presence import Presence, unique_ids
from websocket_service.store.presence import PresenceStore

EMITS = metrics.counter(
    "deepiri_websocket_emits_total",
    "Platform events emitted to users' rooms (rate = emits/s), by event type.",
    ("type",),
)
DELIVERY_LAG = metrics.histogram(
    "deepiri_websocket_delivery_lag_seconds",
    "From the event's occurred_at to its emission to the user's room.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


class Emitter(Protocol):
    async def emit(self, event: str, data: Any = None, *, room: str) -> None: ...


class Realtime:
    def __init__(self, emitter: Emitter, presence: PresenceStore) -> None:
        self.emitter = emitter
        self.presence = presence
        self._tracer = tracer("websocket_service")

    async def deliver(self, user_id: str, envelope: Envelope, event: Event) -> None:
        """Emit ``event`` to every socket of ``user_id``, on whichever pod it is. Runs in the
        consumer's span, which continues the event's trace; the payload carries this emit's
        own context so the client's handling joins the same trace."""
        with self._tracer.start_as_current_span(
            f"socket.io emit {event.TYPE}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "socket.io",
                "messaging.destination.name": room_of(user_id),
                "messaging.message.id": envelope.id,
                "deepiri.event.type": event.TYPE,
            },
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            payload = client_event(
                event_id=envelope.id,
                occurred_at=envelope.occurred_at,
                event=event,
                traceparent=carrier.get("traceparent"),
            )
            await self.emitter.emit(event.TYPE, msgspec.to_builtins(payload), room=room_of(user_id))
        EMITS.labels(event.TYPE).inc()
        DELIVERY_LAG.observe(delivery_lag(envelope.occurred_at, utcnow()))

    async def seen(self, sockets: Iterable[tuple[str, str]]) -> None:
        """(user id, socket id) pairs connected now (on connect and every heartbeat)."""
        await self.presence.renew(sockets)

    async def gone(self, user_id: str, sid: str) -> None:
        await self.presence.remove(user_id, sid)

    async def presence_of(self, user_ids: list[str]) -> list[Presence]:
        return await self.presence.presence(unique_ids(user_ids))
