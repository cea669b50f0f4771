from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from deepiri_kit import metrics
from deepiri_kit.events.envelope import Envelope
from deepiri_kit.tracing import context_from, tracer

log = logging.getLogger("deepiri.events")

PUBLISHED = metrics.counter(
    "deepiri_events_published_total", "Events appended to a stream.", ("stream", "type")
)

# Streams are trimmed approximately; consumers lagging further than this lose nothing that
# matters because the producer's database (outbox) and the consumers' stores are the truth.
DEFAULT_MAXLEN = 200_000

_tracer = tracer("deepiri.events")


class EventBus:
    def __init__(self, redis: Redis, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self.redis = redis
        self.maxlen = maxlen

    async def publish(self, stream: str, event: Envelope) -> str:
        origin = {"traceparent": event.traceparent, "tracestate": event.tracestate}
        return await self.publish_raw(stream, event.encode(), event.type, origin, event.id)

    async def publish_raw(
        self,
        stream: str,
        encoded: str | bytes,
        event_type: str,
        origin: Mapping[str, str | None] | None = None,
        event_id: str | None = None,
    ) -> str:
        """Publish an already-encoded envelope (the outbox stores events encoded).

        The publish span is a child of the trace context the event carries (``origin``:
        its ``traceparent``/``tracestate``), not of whatever is current: published inline,
        by a sweep or by a replay, an event's publication is part of the action that
        decided it."""
        attributes = {
            "messaging.system": "redis",
            "messaging.destination.name": stream,
            "messaging.operation.type": "send",
            "deepiri.event.type": event_type,
        }
        if event_id:
            attributes["messaging.message.id"] = event_id
        with _tracer.start_as_current_span(
            f"{stream} publish",
            context=context_from(origin) if origin and origin.get("traceparent") else None,
            kind=SpanKind.PRODUCER,
            attributes=attributes,
        ):
            entry_id = await self.redis.xadd(
                stream, {"envelope": encoded}, maxlen=self.maxlen, approximate=True
            )
        PUBLISHED.labels(stream, event_type).inc()
        return str(entry_id)
