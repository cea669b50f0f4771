"""Each user's unread count, exact under concurrency: a counter in Redis, changed only by
atomic scripts, and rebuilt from MongoDB (the truth: the notifications) when Redis lost it.

Why Redis: FerretDB, our test server, evaluates an update and writes the document back in
two steps, so concurrent ``$inc``s on one counter lose steps (docs/ferretdb.md); a Redis
script is atomic, and it costs MongoDB nothing (the hot path's bottleneck is FerretDB's
serial command rate).

Every change names the notification it is for: ``+<id>`` when one is counted (before it is
inserted), ``-<id>`` when it stops being unread (read, all read, deleted). Those *marks* are
kept for a day (``HORIZON_MS``), and a change whose mark exists changes nothing: so a
redelivered event after a crash between counting and inserting counts once, and a
notification read by two requests, or read and deleted at the same instant, leaves the
count once — whichever replica gets there first. The marks also make the rebuild exact: it
counts the unread ids MongoDB holds, adds those marked ``+`` but not inserted yet, takes out
those marked ``-`` whose change MongoDB already shows or not yet (all in one script, which
sets the counter only if no other rebuild did), and every change after it applies normally
(for a day after a rebuild, a ``-`` takes one off only an id the rebuild or a later ``+``
counted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from redis.asyncio import Redis

HORIZON_MS = 24 * 3600 * 1000  # longer than any redelivery or race the marks settle
KEEP_COUNT_SECONDS = 30 * 24 * 3600  # an idle user's counter goes; the next read rebuilds it
LIMITS = (HORIZON_MS, KEEP_COUNT_SECONDS)
MARKS_KEPT = timedelta(milliseconds=HORIZON_MS)

# KEYS: counter (hash {n, rebuilt}), marks (sorted set: "+id"/"-id" by time, ms); ARGV:
# HORIZON_MS, KEEP_COUNT_SECONDS, then the marks to make. Applies the new ones' sum; returns
# the count, or nil when there is no counter (the marks are kept all the same: a rebuild
# reads them).
_APPLY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local horizon = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - horizon)
local rebuilt = tonumber(redis.call('HGET', KEYS[1], 'rebuilt') or '0')
local delta = 0
for i = 3, #ARGV do
  local mark = ARGV[i]
  if redis.call('ZADD', KEYS[2], 'NX', now, mark) == 1 then
    local id = string.sub(mark, 2)
    if string.sub(mark, 1, 1) == '+' then
      delta = delta + 1
    elseif now - rebuilt >= horizon or redis.call('ZSCORE', KEYS[2], '+' .. id) then
      delta = delta - 1
    end
  end
end
redis.call('PEXPIRE', KEYS[2], horizon)
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return redis.call('HINCRBY', KEYS[1], 'n', delta)
"""

# KEYS: counter, marks; ARGV: HORIZON_MS, KEEP_COUNT_SECONDS, then the ids MongoDB holds
# unread. Unless the counter exists (another rebuild won), sets it to the number of ids
# unread or marked "+", and not marked "-", and marks every id it
# counted: for a day, a "-" mark takes one off only for an id marked "+" — so a read that
# MongoDB showed before the rebuild looked, but whose mark comes after, is not taken twice.
_REBUILD = """
local n = redis.call('HGET', KEYS[1], 'n')
if n then return tonumber(n) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local unread = {}
for i = 3, #ARGV do unread[ARGV[i]] = true end
local marks = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, mark in ipairs(marks) do
  if string.sub(mark, 1, 1) == '+' then unread[string.sub(mark, 2)] = true end
end
for _, mark in ipairs(marks) do
  if string.sub(mark, 1, 1) == '-' then unread[string.sub(mark, 2)] = nil end
end
local count = 0
for id in pairs(unread) do
  count = count + 1
  redis.call('ZADD', KEYS[2], now, '+' .. id)  -- (re)dated: kept as long as the rule
end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'n', count, 'rebuilt', now)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return count
"""

# Lists the ids of a user's unread notifications in MongoDB (for a rebuild).
UnreadIds = Callable[[str], Awaitable[list[str]]]


def _keys(user_id: str) -> list[str]:
    # One hash tag: both keys land on one node of a Redis Cluster, as a script needs.
    return [f"notifications:unread:{{{user_id}}}", f"notifications:unread-marks:{{{user_id}}}"]


class UnreadCounter:
    def __init__(self, redis: Redis, unread_ids: UnreadIds) -> None:
        self.redis = redis
        self.unread_ids = unread_ids
        self._apply = redis.register_script(_APPLY)
        self._rebuild = redis.register_script(_REBUILD)

    async def counted(self, user_id: str, notification_id: str) -> int:
        """``notification_id`` is unread (call before inserting it; again: no change).
        Returns the user's count with it."""
        return await self._change(user_id, [f"+{notification_id}"])

    async def uncounted(self, user_id: str, notification_ids: Iterable[str]) -> int:
        """These are read or deleted now (each leaves the count once, whoever says so)."""
        return await self._change(user_id, [f"-{nid}" for nid in notification_ids])

    async def count(self, user_id: str) -> int:
        n = await self.redis.hget(_keys(user_id)[0], "n")
        return max(0, int(n)) if n is not None else await self._rebuilt(user_id)

    async def forget(self, user_id: str) -> None:
        await self.redis.delete(*_keys(user_id))

    async def _change(self, user_id: str, marks: list[str]) -> int:
        if not marks:
            return await self.count(user_id)
        n = await self._apply(keys=_keys(user_id), args=[*LIMITS, *marks])
        return max(0, int(n)) if n is not None else await self._rebuilt(user_id)

    async def _rebuilt(self, user_id: str) -> int:
        ids = await self.unread_ids(user_id)
        return max(0, int(await self._rebuild(keys=_keys(user_id), args=[*LIMITS, *ids])))
