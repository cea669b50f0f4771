from __future__ import annotations

import logging

from redis.asyncio import Redis

from deepiri_kit import metrics
from deepiri_kit.events.envelope import Envelope

log = logging.getLogger("deepiri.events")

PUBLISHED = metrics.counter(
    "deepiri_events_published_total", "Events appended to a stream.", ("stream", "type")
)

# Streams are trimmed approximately; consumers lagging further than this lose nothing that
# matters because the producer's database (outbox) and the consumers' stores are the truth.
DEFAULT_MAXLEN = 200_000


class EventBus:
    def __init__(self, redis: Redis, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self.redis = redis
        self.maxlen = maxlen

    async def publish(self, stream: str, event: Envelope) -> str:
        entry_id = await self.redis.xadd(
            stream, {"envelope": event.encode()}, maxlen=self.maxlen, approximate=True
        )
        PUBLISHED.labels(stream, event.type).inc()
        return str(entry_id)

    async def publish_raw(self, stream: str, encoded: str | bytes, event_type: str) -> str:
        """Publish an already-encoded envelope (the outbox stores events encoded)."""
        entry_id = await self.redis.xadd(
            stream, {"envelope": encoded}, maxlen=self.maxlen, approximate=True
        )
        PUBLISHED.labels(stream, event_type).inc()
        return str(entry_id)
