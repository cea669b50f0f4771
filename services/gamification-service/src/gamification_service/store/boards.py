"""Leaderboards in Redis sorted sets, one key per metric and period.

Keys: ``lb:<metric>:all`` and ``lb:<metric>:<period>:<period key>`` (``lb:xp:week:2026-W18``),
each period key expiring (EXPIREAT) some time after its period ends.

Ordering: higher value first; **equal values are ordered by user id, ascending**. Scores are
stored negated so that Redis's own order (score ascending, then member ascending) is exactly
that, and ranks are ``ZRANK + 1`` (1-based, no shared ranks).

Writes are absolute values guarded by a version per member (the wallet's ledger sequence
number, or the rating document's version) in one Lua script: replays, retries and late
writers can never move a score backwards, so every write is idempotent. Redis is not the
source of truth: a board that is lost or stale is rebuilt from MongoDB (``replace``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from redis.asyncio import Redis

from gamification_service.domain.boards import WALLET_METRICS
from gamification_service.domain.periods import TIMED, Period, expires_at, period_key
from gamification_service.domain.wallet import WalletState

NAMES: Final = "lb:names"

# KEYS[1] = the version hash, KEYS[2..n] = boards; ARGV[1] = member, ARGV[2] = version, then
# per board a (negated) score and an EXPIREAT (0 = none).
_GUARDED_SET = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[2 * i - 1], ARGV[1])
  local expire_at = tonumber(ARGV[2 * i])
  if expire_at > 0 then redis.call('EXPIREAT', KEYS[i], expire_at) end
end
return 1
"""


def board_key(metric: str, period: Period, key: str) -> str:
    return f"lb:{metric}:all" if period == "all" else f"lb:{metric}:{period}:{key}"


def version_key(source: str) -> str:
    return f"lb:v:{source}"


@dataclass(frozen=True)
class Standing:
    rank: int
    user_id: str
    value: float


@dataclass(frozen=True)
class Write:
    key: str
    value: float
    expire_at: datetime | None


class Boards:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._guarded = redis.register_script(_GUARDED_SET)

    async def _write(self, source: str, member: str, version: int, writes: Sequence[Write]) -> bool:
        if not writes:
            return False
        args: list[Any] = [member, version]
        for w in writes:
            args += [-float(w.value), int(w.expire_at.timestamp()) if w.expire_at else 0]
        done = await self._guarded(keys=[version_key(source), *(w.key for w in writes)], args=args)
        return bool(done)

    async def sync_wallet(self, user_id: str, state: WalletState) -> bool:
        """Put a wallet's earned XP and coins (all time, and this day/week/month) on the boards."""
        writes: list[Write] = []
        for metric in WALLET_METRICS:
            total = state.earned.get(metric, 0)
            if total <= 0:
                continue
            writes.append(Write(board_key(metric, "all", "all"), total, None))
            for period in TIMED:
                totals = state.periods.get(period)
                value = 0 if totals is None else (totals.xp if metric == "xp" else totals.coins)
                if totals is not None and value > 0:
                    writes.append(
                        Write(
                            board_key(metric, period, totals.key),
                            value,
                            expires_at(period, totals.key),
                        )
                    )
        return await self._write("wallet", user_id, state.seq, writes)

    async def sync_rating(
        self, user_id: str, category: str, version: int, rating: float, at: datetime
    ) -> bool:
        """A rating board holds each member's latest rating (in the period they last played)."""
        metric = f"rating-{category}"
        writes = [Write(board_key(metric, "all", "all"), round(rating, 2), None)]
        for period in TIMED:
            key = period_key(period, at)
            writes.append(
                Write(board_key(metric, period, key), round(rating, 2), expires_at(period, key))
            )
        return await self._write(f"rating:{category}", user_id, version, writes)

    async def top(self, key: str, limit: int, offset: int = 0) -> tuple[list[Standing], int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(key, offset, offset + limit - 1, withscores=True)
            pipe.zcard(key)
            members, total = await pipe.execute()
        return _standings(members, offset), int(total)

    async def around(
        self, key: str, user_id: str, window: int
    ) -> tuple[Standing | None, list[Standing], int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrank(key, user_id)
            pipe.zcard(key)
            rank, total = await pipe.execute()
        if rank is None:
            return None, [], int(total)
        start = max(0, int(rank) - window)
        members: list[tuple[str, float]] = await self.redis.zrange(  # type: ignore[assignment]
            key, start, int(rank) + window, withscores=True
        )
        standings = _standings(members, start)
        me = next((s for s in standings if s.user_id == user_id), None)
        return me, standings, int(total)

    async def values(self, key: str, user_ids: Sequence[str]) -> dict[str, float]:
        """The values of those of ``user_ids`` on board ``key`` (one ZMSCORE)."""
        if not user_ids:
            return {}
        scores: list[float | None] = await self.redis.zmscore(key, list(user_ids))
        return {u: _value(s) for u, s in zip(user_ids, scores, strict=True) if s is not None}

    async def names(self, user_ids: Sequence[str]) -> dict[str, str | None]:
        if not user_ids:
            return {}
        values: list[str | None] = await self.redis.hmget(NAMES, list(user_ids))  # type: ignore[assignment]
        return dict(zip(user_ids, values, strict=True))

    async def set_names(self, names: Mapping[str, str]) -> None:
        if names:
            await self.redis.hset(NAMES, mapping=dict[Any, Any](names))

    async def forget_names(self, user_ids: Sequence[str]) -> None:
        if user_ids:
            await self.redis.hdel(NAMES, *user_ids)

    async def erase(self, user_id: str) -> int:
        """Take the user off every board — each metric, each period still kept, rebuilds in
        progress — and out of the version hashes and names. Boards are found by SCAN, so
        boards of past periods are not missed. How many boards held the user."""
        removed = 0
        async for key in self.redis.scan_iter(match="lb:*", count=1000, _type="zset"):
            removed += await self.redis.zrem(key, user_id)
        async for key in self.redis.scan_iter(match="lb:v:*", count=1000, _type="hash"):
            await self.redis.hdel(key, user_id)
        await self.forget_names([user_id])
        return removed

    async def replace(
        self,
        key: str,
        values: Mapping[str, float],
        expire_at: datetime | None,
        source: str,
        versions: Mapping[str, int],
    ) -> int:
        """Swap in a board rebuilt from MongoDB atomically (RENAME), with its versions."""
        temp = f"{key}:rebuild"
        await self.redis.delete(temp)
        items = list(values.items())
        for i in range(0, len(items), 10_000):
            chunk = items[i : i + 10_000]
            await self.redis.zadd(temp, {member: -float(v) for member, v in chunk})
        async with self.redis.pipeline(transaction=True) as pipe:
            if items:
                pipe.rename(temp, key)
                if expire_at is not None:
                    pipe.expireat(key, int(expire_at.timestamp()))
            else:
                pipe.delete(key)
            if versions:
                pipe.hset(version_key(source), mapping=dict[Any, Any](versions))
            await pipe.execute()
        return len(items)


def _standings(members: Sequence[tuple[str, float]], start: int) -> list[Standing]:
    return [
        Standing(rank=start + i + 1, user_id=member, value=_value(score))
        for i, (member, score) in enumerate(members)
    ]


def _value(score: float) -> float:
    value = -float(score)
    return 0.0 if value == 0 else value
