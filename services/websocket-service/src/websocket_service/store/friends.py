"""Who is whose friend, as user-service's ``events.social`` says (its social graph is the
truth; this is the copy presence needs, in Redis).

``friends:<user>`` is a hash: friend id → the time (epoch ms) of the newest event about the
pair, positive while they are friends, negative once they are not. Each event updates both
people's hashes in one script, and only if it is newer than what the hash holds, so events
redelivered or arriving out of order (retries, several consumers) never bring back an ended
friendship or end a newer one.
"""

from __future__ import annotations

from redis.asyncio import Redis

# KEYS: friends:<a>, friends:<b>; ARGV: a, b, signed time (+ friends, - not friends).
_APPLY = """
local at = tonumber(ARGV[3])
local changed = 0
for i = 1, 2 do
  local other = ARGV[3 - i]
  local known = tonumber(redis.call('HGET', KEYS[i], other) or '0')
  if math.abs(known) < math.abs(at) then
    redis.call('HSET', KEYS[i], other, ARGV[3])
    changed = 1
  end
end
return changed
"""


def friends_key(user_id: str) -> str:
    return f"friends:{user_id}"


class FriendStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._apply = redis.register_script(_APPLY)

    async def befriend(self, a: str, b: str, at_ms: int) -> bool:
        """``a`` and ``b`` are friends since ``at_ms`` (unless something newer is known)."""
        return await self._set(a, b, abs(at_ms))

    async def separate(self, a: str, b: str, at_ms: int) -> bool:
        """``a`` and ``b`` are no longer friends since ``at_ms``."""
        return await self._set(a, b, -abs(at_ms))

    async def _set(self, a: str, b: str, signed_ms: int) -> bool:
        if a == b:
            return False
        keys = [friends_key(a), friends_key(b)]
        return bool(await self._apply(keys=keys, args=[a, b, signed_ms]))

    async def friends(self, user_id: str) -> list[str]:
        """The user's friends now (sorted)."""
        pairs: dict[str, str] = await self.redis.hgetall(friends_key(user_id))  # type: ignore[assignment]
        return sorted(friend for friend, at in pairs.items() if int(at) > 0)

    async def forget(self, user_id: str, at_ms: int) -> list[str]:
        """A deleted account is nobody's friend any more (its hash keeps the endings, so a
        late event cannot bring a friendship back); returns who lost a friend."""
        lost = await self.friends(user_id)
        for friend in lost:
            await self.separate(user_id, friend, at_ms)
        return lost
