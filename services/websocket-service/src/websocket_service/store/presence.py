"""Presence in Redis.

``presence:<user>`` is a sorted set of the user's sockets (on every pod), each scored with
the time its entry expires; the pod holding a socket renews it on every heartbeat and removes
it on disconnect. Counting only scores in the future makes a crashed pod's sockets stop
counting by themselves, and the key expires with its last entry. ``presence:last:<user>`` is
the last time the user was seen (connect, heartbeat, disconnect).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis

from websocket_service.domain.presence import Presence, expiry_ms, presence_of


def sockets_key(user_id: str) -> str:
    return f"presence:{user_id}"


def last_seen_key(user_id: str) -> str:
    return f"presence:last:{user_id}"


def now_ms() -> int:
    return int(time.time() * 1000)


class PresenceStore:
    def __init__(self, redis: Redis, *, ttl_seconds: float, retention_days: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.ttl_ms = int(ttl_seconds * 1000)
        self.retention_seconds = retention_days * 86_400

    async def renew(self, sockets: Iterable[tuple[str, str]]) -> None:
        """(user id, socket id) pairs are live now: one round trip for all of them."""
        now = now_ms()
        until = expiry_ms(now, self.ttl_seconds)
        async with self.redis.pipeline(transaction=False) as pipe:
            users: set[str] = set()
            for user_id, sid in sockets:
                pipe.zadd(sockets_key(user_id), {sid: until})
                users.add(user_id)
            for user_id in users:
                key = sockets_key(user_id)
                pipe.zremrangebyscore(key, "-inf", now)  # entries of crashed pods
                pipe.pexpire(key, self.ttl_ms)
                pipe.set(last_seen_key(user_id), now, ex=self.retention_seconds)
            if users:
                await pipe.execute()

    async def remove(self, user_id: str, sid: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(sockets_key(user_id), sid)
            pipe.set(last_seen_key(user_id), now_ms(), ex=self.retention_seconds)
            await pipe.execute()

    async def presence(self, user_ids: list[str]) -> list[Presence]:
        if not user_ids:
            return []
        now = now_ms()
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.zcount(sockets_key(user_id), now + 1, "+inf")
            pipe.mget([last_seen_key(u) for u in user_ids])
            *counts, last_seen = await pipe.execute()
        return [
            presence_of(user_id, int(count), None if seen is None else int(seen))
            for user_id, count, seen in zip(user_ids, counts, last_seen, strict=True)
        ]
