"""Everyone's pairs and friends in Redis: the index every social list and suggestion reads.

Why: FerretDB pushes down no filter but ``_id`` equality, so "the pairs of this person" in
``social_edges`` scans the collection (17 s at 200,000 pairs, measured; 72 s for the friends
of 1,000 people with ``$in``). Here the same reads are a hash and some sets per person:

* ``social:pairs:<user>`` — hash: other person → their pair as ``social_edges`` holds it (JSON);
* ``social:friends:<user>`` — set of their friends (friends of friends are one pipeline);
* ``social:v`` — hash: pair key → the version (chain seq) each pair was projected at;
* ``social:visibility`` — hash: person → ``friends`` or ``private`` (public people are not in
  it), projected from the account log (``social:visibility:v``: the account's version).

Writes are whole pairs guarded by that version in one Lua script (both people's entries at
once): replays and late writers can never move a pair backwards, so projecting is
idempotent and order-free. Redis is a cache, not the source of truth: ``social:index`` marks a
complete index, and without it (a new or flushed Redis) the index is rebuilt from
``social_edges`` before it is read (:meth:`SocialIndex.ready`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any, Final

from redis.asyncio import Redis

Document = dict[str, Any]
VERSIONS: Final = "social:v"
VISIBILITY: Final = "social:visibility"
VISIBILITY_VERSIONS: Final = "social:visibility:v"
BUILT: Final = "social:index"
BUILDING: Final = "social:index:building"
BUILD_LOCK_SECONDS = 600
BATCH = 1000

# KEYS: versions, pairs of a, pairs of b, friends of a, friends of b. ARGV: pair key, version,
# a, b, the pair as JSON ("" = it holds nothing: drop it), "1" if they are friends.
_PROJECT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[5] == '' then
  redis.call('HDEL', KEYS[2], ARGV[4])
  redis.call('HDEL', KEYS[3], ARGV[3])
else
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
end
if ARGV[6] == '1' then
  redis.call('SADD', KEYS[4], ARGV[4])
  redis.call('SADD', KEYS[5], ARGV[3])
else
  redis.call('SREM', KEYS[4], ARGV[4])
  redis.call('SREM', KEYS[5], ARGV[3])
end
return 1
"""


# KEYS: visibility, its versions. ARGV: person, version (the account's), visibility.
_VISIBILITY = """
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] == 'public' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 1
"""
People = Callable[[], AsyncIterable[tuple[str, int, str]]]


def pairs_key(user: str) -> str:
    return f"social:pairs:{user}"


def friends_key(user: str) -> str:
    return f"social:friends:{user}"


class SocialIndex:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._project = redis.register_script(_PROJECT)
        self._visibility = redis.register_script(_VISIBILITY)

    def _call(self, key: str, edge: Mapping[str, Any], holds: bool) -> tuple[list[str], list[Any]]:
        a, b = edge["users"]
        body = {k: v for k, v in edge.items() if k != "_id"}
        keys = [VERSIONS, pairs_key(a), pairs_key(b), friends_key(a), friends_key(b)]
        data = json.dumps(body, separators=(",", ":")) if holds else ""
        return keys, [key, int(edge["version"]), a, b, data, "1" if edge.get("friends") else "0"]

    async def project(self, key: str, edge: Mapping[str, Any], holds: bool) -> bool:
        """Put the pair ``key`` as ``edge`` (its ``social_edges`` document, ``version`` = the
        chain seq) in the index, unless it holds a newer version already."""
        keys, args = self._call(key, edge, holds)
        return bool(await self._project(keys=keys, args=args))

    async def set_visibility(self, user: str, version: int, visibility: str) -> bool:
        """Record ``user``'s visibility as of their account's change ``version``."""
        args: list[str | int] = [user, version, visibility]
        return bool(await self._visibility(keys=[VISIBILITY, VISIBILITY_VERSIONS], args=args))

    async def visibilities(self, users: Iterable[str]) -> dict[str, str]:
        """The visibility of each of ``users`` who is not public."""
        wanted = list(set(users))
        if not wanted:
            return {}
        found = await self.redis.hmget(VISIBILITY, wanted)
        return {u: str(v) for u, v in zip(wanted, found, strict=True) if v is not None}

    async def ready(
        self, edges: Callable[[], AsyncIterable[tuple[str, Document, bool]]], people: People
    ) -> None:
        """Unless the index is complete, rebuild it from ``edges()`` (every pair: its key,
        ``social_edges`` document and whether it holds anything) and ``people()`` (everyone
        not public: id, account version, visibility); one process rebuilds while the others
        wait."""
        if await self.redis.exists(BUILT) or not await self._lock():
            return
        try:
            if not await self.redis.exists(BUILT):
                await self.rebuild(edges())
                async for user, version, visibility in people():
                    await self.set_visibility(user, version, visibility)
                await self.redis.set(BUILT, "1")
        finally:
            await self.redis.delete(BUILDING)

    async def rebuild(self, edges: AsyncIterable[tuple[str, Document, bool]]) -> int:
        """Project every pair (pipelined; versions keep concurrent writers' newer pairs)."""
        count = 0
        pipe = self.redis.pipeline(transaction=False)
        async for key, edge, holds in edges:
            keys, args = self._call(key, edge, holds)
            await self._project(keys=keys, args=args, client=pipe)
            count += 1
            if count % BATCH == 0:
                await pipe.execute()
        await pipe.execute()
        return count

    async def clear(self) -> int:
        """Drop the whole index (an operator's repair): the next read rebuilds it. Holds the
        build lock meanwhile, so no reader rebuilds from a half-cleared index."""
        await self._lock(unless_built=False)
        dropped = 0
        try:
            await self.redis.delete(BUILT)
            async for key in self.redis.scan_iter(match="social:*", count=1000):
                if key != BUILDING:
                    dropped += int(await self.redis.unlink(key))
        finally:
            await self.redis.delete(BUILDING)
        return dropped

    async def _lock(self, *, unless_built: bool = True) -> bool:
        """Take the build lock; False (not taken) if ``unless_built`` and the index was found
        complete while waiting."""
        while not await self.redis.set(BUILDING, "1", nx=True, ex=BUILD_LOCK_SECONDS):
            await asyncio.sleep(0.1)
            if unless_built and await self.redis.exists(BUILT):
                return False
        return True

    async def pairs_of(self, user: str) -> list[Document]:
        found = await self.redis.hgetall(pairs_key(user))
        return [json.loads(v) for v in found.values()]

    async def friends_of_each(self, users: Iterable[str]) -> dict[str, set[str]]:
        wanted = list(set(users))
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in wanted:
                pipe.smembers(friends_key(user))
            found = await pipe.execute()
        return {user: set(friends) for user, friends in zip(wanted, found, strict=True)}

    async def erase(self, user: str, pair_keys: Mapping[str, str]) -> None:
        """Take ``user`` out of the index; ``pair_keys`` maps each other person to the key of
        their pair with ``user``."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for other, key in pair_keys.items():
                pipe.hdel(pairs_key(other), user)
                pipe.srem(friends_key(other), user)
                pipe.hdel(VERSIONS, key)
            pipe.delete(pairs_key(user), friends_key(user))
            pipe.hdel(VISIBILITY, user)
            pipe.hdel(VISIBILITY_VERSIONS, user)
            await pipe.execute()
