"""Browser sessions in Redis: the cookie holds a random secret, Redis its digest. A
session lost with Redis only means signing in again."""

from __future__ import annotations

import json

from redis.asyncio import Redis


class SessionStore:
    def __init__(self, redis: Redis, prefix: str = "session") -> None:
        self.redis = redis
        self.prefix = prefix

    async def save(self, digest: str, user_id: str, auth_time: int, ttl_seconds: int) -> None:
        index = f"{self.prefix}s-of:{user_id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(
                f"{self.prefix}:{digest}",
                json.dumps({"user_id": user_id, "auth_time": auth_time}),
                ex=ttl_seconds,
            )
            pipe.sadd(index, digest)
            pipe.expire(index, ttl_seconds)
            await pipe.execute()

    async def load(self, digest: str) -> tuple[str, int] | None:
        raw = await self.redis.get(f"{self.prefix}:{digest}")
        if raw is None:
            return None
        doc = json.loads(raw)
        return str(doc["user_id"]), int(doc["auth_time"])

    async def drop(self, digest: str) -> None:
        await self.redis.delete(f"{self.prefix}:{digest}")

    async def drop_all(self, user_id: str) -> None:
        index = f"{self.prefix}s-of:{user_id}"
        digests = await self.redis.smembers(index)  # strings: the client decodes responses
        keys = [f"{self.prefix}:{d!s}" for d in digests]
        await self.redis.delete(index, *keys)
