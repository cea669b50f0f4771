"""Login failure counters and locks in Redis (a cache: losing them only forgets a lock)."""

from __future__ import annotations

import math

from redis.asyncio import Redis

from user_service.domain.throttle import Backoff

WINDOW_SECONDS = 900  # failures older than this are forgotten


class Throttle:
    def __init__(self, redis: Redis, prefix: str = "login") -> None:
        self.redis = redis
        self.prefix = prefix

    def _keys(self, kind: str, key: str) -> tuple[str, str]:
        return f"{self.prefix}:fail:{kind}:{key}", f"{self.prefix}:lock:{kind}:{key}"

    async def locked_for(self, kind: str, key: str) -> int:
        """Whole seconds until ``key`` may try again (0: now)."""
        _, lock = self._keys(kind, key)
        ttl_ms = await self.redis.pttl(lock)
        return math.ceil(ttl_ms / 1000) if ttl_ms and ttl_ms > 0 else 0

    async def failed(self, kind: str, key: str, backoff: Backoff) -> float:
        """Count a failure; lock the key as the back-off says. Returns the lock in seconds."""
        count_key, lock = self._keys(kind, key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(count_key)
            pipe.expire(count_key, WINDOW_SECONDS)
            failures, _ = await pipe.execute()
        seconds = backoff.lock_seconds(int(failures))
        if seconds > 0:
            await self.redis.set(lock, "1", px=int(seconds * 1000))
        return seconds

    async def succeeded(self, kind: str, key: str) -> None:
        count_key, lock = self._keys(kind, key)
        await self.redis.delete(count_key, lock)
