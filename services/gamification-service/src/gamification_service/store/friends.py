"""Who is whose friend, for the friends' boards: a copy of user-service's social graph in
Redis, kept from ``events.social`` and rebuilt from user-service (the truth) on demand.

Keys: ``fr:<user>`` — a set of the user's friends (both directions are written together);
``fr:v:<user>`` — a hash, friend (or former friend) → the number of the newest change of
that pair applied. Each pair's changes are numbered by user-service's social log, so a write
is applied only when its change is at least as new as the one recorded (one Lua script):
a redelivered, replayed or late event never undoes a newer one. Events of one change (a
block sends ``friend_removed`` and ``blocked``) all leave the pair in the same state, so
applying them again is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

# KEYS: fr:<a>, fr:<b>, fr:v:<a>, fr:v:<b>; ARGV: a, b, change number, 1 = friends / 0 = not.
_GUARDED_PAIR = """
local seen = redis.call('HGET', KEYS[3], ARGV[2])
if seen and tonumber(seen) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
if ARGV[4] == '1' then
  redis.call('SADD', KEYS[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[1])
else
  redis.call('SREM', KEYS[1], ARGV[2])
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS: fr:v:<a>, fr:v:<b>; ARGV: a, b, change number. Versions only move forward.
_RAISE_VERSION = """
local seen = redis.call('HGET', KEYS[1], ARGV[2])
if seen and tonumber(seen) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""


def friends_key(user_id: str) -> str:
    return f"fr:{user_id}"


def versions_key(user_id: str) -> str:
    return f"fr:v:{user_id}"


class Friendships:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._guarded = redis.register_script(_GUARDED_PAIR)
        self._raise = redis.register_script(_RAISE_VERSION)

    async def apply(self, one: str, other: str, *, friends: bool, change: int) -> bool:
        """Make ``one`` and ``other`` friends (or not) as of their pair's change ``change``;
        False when a newer change of the pair was applied already."""
        keys = [friends_key(one), friends_key(other), versions_key(one), versions_key(other)]
        done = await self._guarded(keys=keys, args=[one, other, change, "1" if friends else "0"])
        return bool(done)

    async def of(self, user_id: str) -> set[str]:
        members: set[str] = await self.redis.smembers(friends_key(user_id))  # type: ignore[assignment]
        return members

    async def replace(self, user_id: str, friends: Mapping[str, int]) -> int:
        """Make ``friends`` (friend → their pair's newest change number) exactly the user's
        friends, both ways: a rebuild from user-service's answer. Former friends lose the
        user; versions only move forward. How many friends the user has now."""
        former = await self.of(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for gone in former - set(friends):
                pipe.srem(friends_key(gone), user_id)
            pipe.delete(friends_key(user_id))
            if friends:
                pipe.sadd(friends_key(user_id), *friends)
            for friend in friends:
                pipe.sadd(friends_key(friend), user_id)
            await pipe.execute()
        for friend, change in friends.items():
            # Forward only: an event newer than the answer may have landed meanwhile.
            keys = [versions_key(user_id), versions_key(friend)]
            await self._raise(keys=keys, args=[user_id, friend, change])
        return len(friends)

    async def erase(self, user_id: str) -> int:
        """Take a deleted account out of everyone's friends and forget its pairs."""
        known: list[str] = await self.redis.hkeys(versions_key(user_id))  # type: ignore[assignment]
        friends = await self.of(user_id)
        peers = set(known) | friends
        async with self.redis.pipeline(transaction=True) as pipe:
            for peer in peers:
                pipe.srem(friends_key(peer), user_id)
                pipe.hdel(versions_key(peer), user_id)
            pipe.delete(friends_key(user_id), versions_key(user_id))
            await pipe.execute()
        return len(friends)
