"""The Socket.IO manager: python-socketio's Redis manager, with a span for every emit this
pod delivers to its own sockets.

An emit made anywhere (this service's consumer, notification-service's write-only emitter)
travels as a Redis pub/sub message that every pod's manager receives and delivers to the
sockets it holds. No trace context travels with pub/sub, but the payloads carry a
``traceparent`` (``ClientEvent``): the delivery span continues it, so the user's action
stays one trace up to the sockets of whichever pods hold them.
"""

from __future__ import annotations

from typing import Any

import socketio
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from deepiri_kit import tracer

_tracer = tracer("websocket_service")


def _traceparent(data: Any) -> str | None:
    # Emits carry one payload, which the manager relays as a one-item list.
    payload = data[0] if isinstance(data, list) and len(data) == 1 else data
    if isinstance(payload, dict) and isinstance(payload.get("traceparent"), str):
        return str(payload["traceparent"])
    return None


class TracedRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    async def _handle_emit(self, message: dict[str, Any]) -> None:
        # python-socketio 5.x's hook for a received emit (socketio/async_pubsub_manager.py).
        traceparent = _traceparent(message.get("data"))
        if traceparent is None:
            await super()._handle_emit(message)
            return
        event = str(message.get("event"))
        with _tracer.start_as_current_span(
            f"socket.io deliver {event}",
            context=propagate.extract({"traceparent": traceparent}),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "socket.io",
                "messaging.destination.name": str(message.get("room")),
                "messaging.operation.type": "deliver",
                "deepiri.event.type": event,
            },
        ):
            await super()._handle_emit(message)
