"""Development only: the newest events of a stream, read back from Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from deepiri_kit.events import Envelope


class StreamReader:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def newest(self, stream: str, count: int) -> list[Envelope]:
        entries = await self.redis.xrevrange(stream, count=count) or []
        return [Envelope.decode(str(fields["envelope"])) for _, fields in entries if fields]
