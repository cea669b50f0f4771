"""Per player, the challenges they may be playing: what one progress event reads instead of
scanning every challenge (FerretDB pushes no filter into an index, so a query on
``(member, status)`` scans the whole read model however it is indexed).

A Redis set per player, ``challenges:running:<user>``, kept by the write path so that it
**never misses** a challenge the player plays and may hold some they no longer do:

* a challenge id is added *before* the link that makes the player play it (their accept),
  and again after it (so a Redis wiped in between still learns it);
* it is removed *after* the link that ends their play (the challenge's end, their abandon or
  decline); a crash before the removal leaves an extra entry, which the next event drops
  once the challenge's head says the player is done with it.

Every event re-reads each candidate's head before counting anything, so an extra entry costs
one read and never a wrong count. Redis is a cache here, never the only copy: the set is
rebuilt from the read model when its marker is missing (a wiped or new Redis), before any
event is counted against it. It assumes Redis does not evict keys (``noeviction``), which the
event bus needs already.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from redis.asyncio import Redis

PREFIX = "challenges:running:"
MARKER = "challenges:running:built"


def running_key(user_id: str) -> str:
    return f"{PREFIX}{user_id}"


class RunningIndex:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def of(self, user_id: str) -> list[str] | None:
        """The challenge ids ``user_id`` may be playing, or None when the index must be
        rebuilt first (its marker is gone). One round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(MARKER)
            pipe.smembers(running_key(user_id))
            built, members = await pipe.execute()
        return sorted(members) if built else None

    async def add(self, user_id: str, challenge_id: str) -> None:
        await self.redis.sadd(running_key(user_id), challenge_id)

    async def forget(self, user_id: str) -> None:
        """A deleted account's set goes (the challenges it left drop it from theirs)."""
        await self.redis.delete(running_key(user_id))

    async def remove(self, pairs: list[tuple[str, str]]) -> None:
        """Drop ``(user, challenge)`` pairs whose play is over."""
        if not pairs:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id, challenge_id in pairs:
                pipe.srem(running_key(user_id), challenge_id)
            await pipe.execute()

    async def rebuild(self, playing: AsyncIterable[tuple[str, str]]) -> int:
        """Add every ``(user, challenge)`` pair the read model says is or may soon be played
        (offers and invitations too: an accept may be between its add and its link when
        Redis is wiped), then set the marker. Adds only: an entry added meanwhile stays."""
        added = 0
        async with self.redis.pipeline(transaction=False) as pipe:
            async for user_id, challenge_id in playing:
                pipe.sadd(running_key(user_id), challenge_id)
                added += 1
            pipe.set(MARKER, "1")
            await pipe.execute()
        return added
