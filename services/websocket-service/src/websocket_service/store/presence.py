"""Presence in Redis.

``presence:<user>`` is a sorted set of the user's sockets (on every pod), each scored with
the time its entry expires; the pod holding a socket renews it on every heartbeat and removes
it on disconnect. Counting only scores in the future makes a crashed pod's sockets stop
counting by themselves, and the key expires with its last entry. ``presence:last:<user>`` is
the last time the user was seen (connect, heartbeat, disconnect).

``presence:online`` holds every user who is online, scored with the latest expiry of their
sockets: a user enters it when their first socket anywhere is recorded (the one ``ZADD``
that adds them sees it: "came online") and leaves it in one script that removes them only if
none of their sockets is live (the one ``ZREM`` that succeeds sees it: "went offline") —
on their last disconnect, or, when their pod crashed, when any pod's reaper finds their
score passed. Each change is therefore seen exactly once, whichever pods hold the sockets.
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


ONLINE_KEY = "presence:online"

# KEYS: presence:<user>, presence:online; ARGV: user, now (ms). 1 if the user went offline.
_OFFLINE_IF_GONE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) > 0 then
  return 0
end
return redis.call('ZREM', KEYS[2], ARGV[1])
"""
REAP_BATCH = 500


def now_ms() -> int:
    return int(time.time() * 1000)


class PresenceStore:
    def __init__(self, redis: Redis, *, ttl_seconds: float, retention_days: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.ttl_ms = int(ttl_seconds * 1000)
        self.retention_seconds = retention_days * 86_400
        self._offline_if_gone = redis.register_script(_OFFLINE_IF_GONE)

    async def renew(self, sockets: Iterable[tuple[str, str]]) -> list[str]:
        """(user id, socket id) pairs are live now: one round trip for all of them. Returns
        the users who were not online anywhere before (they came online)."""
        now = now_ms()
        until = expiry_ms(now, self.ttl_seconds)
        users: list[str] = list(dict.fromkeys(user_id for user_id, _ in sockets))
        if not users:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id, sid in sockets:
                pipe.zadd(sockets_key(user_id), {sid: until})
            for user_id in users:
                key = sockets_key(user_id)
                pipe.zremrangebyscore(key, "-inf", now)  # entries of crashed pods
                pipe.pexpire(key, self.ttl_ms)
                pipe.set(last_seen_key(user_id), now, ex=self.retention_seconds)
                pipe.zadd(ONLINE_KEY, {user_id: until}, gt=True)  # 1: newly online
            results = await pipe.execute()
        added = results[-4 * len(users) :][3::4]
        return [user_id for user_id, new in zip(users, added, strict=True) if new]

    async def remove(self, user_id: str, sid: str) -> bool:
        """The socket ``sid`` left; True if that made the user offline everywhere."""
        now = now_ms()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(sockets_key(user_id), sid)
            pipe.set(last_seen_key(user_id), now, ex=self.retention_seconds)
            await pipe.execute()
        return bool(
            await self._offline_if_gone(
                keys=[sockets_key(user_id), ONLINE_KEY], args=[user_id, now]
            )
        )

    async def reap(self) -> list[str]:
        """Users whose sockets all expired without a disconnect (their pod died): each is
        taken offline here, by exactly one of the pods reaping. Returns them."""
        now = now_ms()
        due: list[str] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            ONLINE_KEY, "-inf", now, start=0, num=REAP_BATCH
        )
        gone = []
        for user_id in due:
            keys = [sockets_key(user_id), ONLINE_KEY]
            if await self._offline_if_gone(keys=keys, args=[user_id, now]):
                gone.append(user_id)
        return gone

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
