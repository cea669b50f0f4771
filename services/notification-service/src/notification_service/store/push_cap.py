"""The per-user push cap, exact across replicas: a push is counted *before* it is sent, by
one atomic Redis script, so concurrent deliveries (several replicas, concurrent events)
cannot all see room for one more.

Per user, two sorted sets of delivery ids: ``pending`` (reserved, scored by when) and
``sent`` (pushed, scored by when). A reservation is refused once ``sent`` of the last hour
plus ``pending`` reach the cap. A delivery already holding a reservation, or already sent
this hour, is let through without counting again (its retry after a 429 or a crash).
A reservation whose attempt never finished (the process died) lapses after ``lease`` — the
attempt claim's lease, after which the delivery is retried anyway — so it cannot hold the
slot for ever. Times come from the caller's clock (the service's, which tests move).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from notification_service.store.channels import Undelivered

WINDOW = timedelta(hours=1)

# KEYS: pending, sent; ARGV: now (ms), window (ms), lease (ms), cap, delivery id.
# Returns 1 if the delivery holds a slot (reserved now or before), 0 if the cap is reached.
_RESERVE = """
local now, window, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lease)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
if redis.call('ZSCORE', KEYS[1], ARGV[5]) or redis.call('ZSCORE', KEYS[2], ARGV[5]) then
  return 1
end
if redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
"""

# KEYS: pending, sent; ARGV: now (ms), window (ms), delivery id. The reservation becomes a
# push sent now (kept for the window; a second call keeps the first time).
_SENT = """
redis.call('ZREM', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""


def _ms(value: datetime | timedelta) -> int:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value.timestamp()
    return int(seconds * 1000)


def _keys(user_id: str) -> list[str]:
    # One hash tag: both keys on one node of a Redis Cluster, as a script needs.
    return [f"notifications:push-pending:{{{user_id}}}", f"notifications:push-sent:{{{user_id}}}"]


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    """Redis unreachable: the push waits and is retried like one whose provider is down."""
    try:
        yield
    except RedisError as exc:
        raise Undelivered(f"the push cap is unavailable: {exc}") from exc


class PushCap:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._reserve = redis.register_script(_RESERVE)
        self._sent = redis.register_script(_SENT)

    async def reserve(
        self, user_id: str, delivery_id: str, *, per_hour: int, lease: timedelta, now: datetime
    ) -> bool:
        """Count ``delivery_id`` against the user's cap before pushing it: False if the cap
        is reached (nothing reserved)."""
        args: list[str | int] = [_ms(now), _ms(WINDOW), _ms(lease), per_hour, delivery_id]
        async with _reachable():
            return bool(await self._reserve(keys=_keys(user_id), args=args))

    async def sent(self, user_id: str, delivery_id: str, *, now: datetime) -> None:
        """The reserved push went out (to some devices at least): it counts for the hour."""
        async with _reachable():  # its retry skips the devices reached, and says so again
            await self._sent(keys=_keys(user_id), args=[_ms(now), _ms(WINDOW), delivery_id])

    async def release(self, user_id: str, delivery_id: str) -> None:
        """Nothing was pushed (no device to push to): the reservation goes."""
        async with _reachable():
            await self.redis.zrem(_keys(user_id)[0], delivery_id)

    async def forget(self, user_id: str) -> None:
        await self.redis.delete(*_keys(user_id))
