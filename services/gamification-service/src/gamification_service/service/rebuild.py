"""Rebuilding every leaderboard from MongoDB (Redis holds the boards as a cache):

* XP and coins, all time: each wallet's earned totals (the fold of its ledger).
* XP and coins, this day / week / month: the sum of the positive amounts of the ledger
  entries stamped inside the period (rejected conversions left out).
* Ratings, all time: every rating document; per period: each member's rating after their
  last match inside the period.

Each board is swapped in whole with MongoDB's current versions, so a stale live write cannot
undo the rebuild. Summing happens here rather than in an aggregation (FerretDB computes only
the first of several ``$sum`` accumulators in one ``$group``).
"""

from __future__ import annotations

from datetime import datetime

from gamification_service.domain import ratings as rating_rules
from gamification_service.domain.boards import WALLET_METRICS
from gamification_service.domain.periods import TIMED, Period, expires_at, period_key, period_range
from gamification_service.store.boards import Boards, board_key
from gamification_service.store.ledger import Ledger
from gamification_service.store.profiles import Profiles
from gamification_service.store.ratings import RatingStore
from gamification_service.store.snapshots import Snapshots, decode_state


class Rebuild:
    """Rebuilds the boards of the periods containing a moment, from the wallets' snapshots,
    the ledger and the rating chains."""

    def __init__(
        self,
        boards: Boards,
        profiles: Profiles,
        ledger: Ledger,
        snapshots: Snapshots,
        ratings: RatingStore,
    ) -> None:
        self.boards = boards
        self.profiles = profiles
        self.ledger = ledger
        self.snapshots = snapshots
        self.ratings = ratings

    async def run(self, now: datetime) -> dict[str, int]:
        """Every board for the periods containing ``now``; returns members per board."""
        counts = await self.wallets_all_time()
        counts |= await self.wallets_in_periods(now)
        for category in rating_rules.CATEGORIES:
            counts |= await self.ratings_of(category, now)
        await self.boards.set_names(await self.profiles.all_names())
        return counts

    async def wallets_all_time(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        totals: dict[str, dict[str, float]] = {m: {} for m in WALLET_METRICS}
        versions: dict[str, int] = {}
        async for doc in self.snapshots.heads():
            state = decode_state(doc)
            user_id = doc["user_id"]
            versions[user_id] = state.seq
            for metric in WALLET_METRICS:
                if state.earned.get(metric, 0) > 0:
                    totals[metric][user_id] = state.earned[metric]
        for metric in WALLET_METRICS:
            key = board_key(metric, "all", "all")
            counts[key] = await self.boards.replace(key, totals[metric], None, "wallet", versions)
        return counts

    async def wallets_in_periods(self, now: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        for period in TIMED:
            pkey = period_key(period, now)
            start, end = _bounds(period, pkey)
            sums = await self._period_sums(start, end)
            for metric in WALLET_METRICS:
                key = board_key(metric, period, pkey)
                counts[key] = await self.boards.replace(
                    key, sums[metric], expires_at(period, pkey), "wallet", {}
                )
        return counts

    async def ratings_of(self, category: str, now: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        metric = f"rating-{category}"
        current: dict[str, float] = {}
        versions: dict[str, int] = {}
        async for doc in self.ratings.rated(category):
            if doc.get("matches", 0) > 0:
                current[doc["user_id"]] = round(doc["rating"], 2)
                versions[doc["user_id"]] = doc["version"]
        key = board_key(metric, "all", "all")
        counts[key] = await self.boards.replace(key, current, None, f"rating:{category}", versions)
        for period in TIMED:
            pkey = period_key(period, now)
            start, end = _bounds(period, pkey)
            latest: dict[str, tuple[datetime, float]] = {}
            async for h in self.ratings.changes_between(category, start, end):
                seen = latest.get(h["user_id"])
                if seen is None or h["at"] >= seen[0]:
                    latest[h["user_id"]] = (h["at"], h["after"])
            key = board_key(metric, period, pkey)
            counts[key] = await self.boards.replace(
                key,
                {u: round(v, 2) for u, (_, v) in latest.items()},
                expires_at(period, pkey),
                f"rating:{category}",
                {},
            )
        return counts

    async def _period_sums(self, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        sums: dict[str, dict[str, float]] = {m: {} for m in WALLET_METRICS}
        entries = await self.ledger.written_in(start, end)
        # Only debits can be rejected; a conversion's credit goes with its debit.
        rejected: set[tuple[str, int]] = set()
        for user_id in {e["user_id"] for e in entries if e["kind"] == "convert"}:
            seqs = [e["seq"] for e in entries if e["user_id"] == user_id and e["kind"] == "convert"]
            outcomes = await self.snapshots.outcomes(user_id, seqs)
            rejected |= {(user_id, n) for n, o in outcomes.items() if o == "rejected"}
        for entry in entries:
            if (entry["user_id"], entry["seq"]) in rejected:
                continue
            for metric in WALLET_METRICS:
                amount = entry.get("amounts", {}).get(metric, 0)
                if amount > 0:
                    board = sums[metric]
                    board[entry["user_id"]] = board.get(entry["user_id"], 0) + amount
        return sums


def _bounds(period: Period, key: str) -> tuple[datetime, datetime]:
    bounds = period_range(period, key)
    assert bounds is not None, f"{period} {key} has bounds"
    return bounds
