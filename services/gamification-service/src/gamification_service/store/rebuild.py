"""Rebuild leaderboards from MongoDB (Redis is a cache of them, never the only copy).

* XP and coins, all time: each wallet's earned totals (the fold of its ledger).
* XP and coins, this day / week / month: the sum of the positive amounts of the ledger
  entries stamped inside the period.
* Ratings, all time: every rating document; per period: each member's rating after their
  last match inside the period, from the rating history.

Each board is written to a temporary key and RENAMEd over the live one; the version hashes
are set to MongoDB's current versions, so a stale live write cannot undo the rebuild.
Summing happens here rather than in an aggregation (FerretDB computes only the first of
several ``$sum`` accumulators in one ``$group``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gamification_service.domain.periods import TIMED, expires_at, period_key, period_range
from gamification_service.domain.ratings import CATEGORIES
from gamification_service.store.boards import WALLET_METRICS, Boards, board_key
from gamification_service.store.profiles import Profiles
from gamification_service.store.ratings import RatingStore
from gamification_service.store.wallets import WalletStore, decode_state


async def rebuild_all(
    wallets: WalletStore,
    ratings: RatingStore,
    boards: Boards,
    profiles: Profiles,
    now: datetime,
) -> dict[str, int]:
    """Rebuild every board for the periods containing ``now``; returns members per board."""
    counts: dict[str, int] = {}
    totals: dict[str, dict[str, float]] = {m: {} for m in WALLET_METRICS}
    versions: dict[str, int] = {}
    async for doc in wallets.heads():
        state = decode_state(doc)
        user_id = doc["user_id"]
        versions[user_id] = state.seq
        for metric in WALLET_METRICS:
            if state.earned.get(metric, 0) > 0:
                totals[metric][user_id] = state.earned[metric]
    for metric in WALLET_METRICS:
        key = board_key(metric, "all", "all")
        counts[key] = await boards.replace(key, totals[metric], None, "wallet", versions)

    for period in TIMED:
        pkey = period_key(period, now)
        bounds = period_range(period, pkey)
        assert bounds is not None
        sums: dict[str, dict[str, float]] = {m: {} for m in WALLET_METRICS}
        query: dict[str, Any] = {"at": {"$gte": bounds[0], "$lt": bounds[1]}}
        entries = await wallets.ledger.find(
            query, {"user_id": 1, "seq": 1, "kind": 1, "amounts": 1}
        ).to_list()
        # Only debits can be rejected; a conversion's credit goes with its debit.
        rejected: set[tuple[str, int]] = set()
        for user_id in {e["user_id"] for e in entries if e["kind"] == "convert"}:
            seqs = [e["seq"] for e in entries if e["user_id"] == user_id and e["kind"] == "convert"]
            outcomes = await wallets.outcomes(user_id, seqs)
            rejected |= {(user_id, n) for n, o in outcomes.items() if o == "rejected"}
        for entry in entries:
            if (entry["user_id"], entry["seq"]) in rejected:
                continue
            for metric in WALLET_METRICS:
                amount = entry.get("amounts", {}).get(metric, 0)
                if amount > 0:
                    board = sums[metric]
                    board[entry["user_id"]] = board.get(entry["user_id"], 0) + amount
        for metric in WALLET_METRICS:
            key = board_key(metric, period, pkey)
            counts[key] = await boards.replace(
                key, sums[metric], expires_at(period, pkey), "wallet", {}
            )

    for category in CATEGORIES:
        metric = f"rating-{category}"
        current: dict[str, float] = {}
        rating_versions: dict[str, int] = {}
        async for doc in ratings.ratings.find({"category": category}):
            if doc.get("matches", 0) > 0:
                current[doc["user_id"]] = round(doc["rating"], 2)
                rating_versions[doc["user_id"]] = doc["version"]
        key = board_key(metric, "all", "all")
        counts[key] = await boards.replace(
            key, current, None, f"rating:{category}", rating_versions
        )
        for period in TIMED:
            pkey = period_key(period, now)
            bounds = period_range(period, pkey)
            assert bounds is not None
            latest: dict[str, tuple[datetime, float]] = {}
            history = ratings.history.find(
                {"category": category, "at": {"$gte": bounds[0], "$lt": bounds[1]}},
                {"user_id": 1, "after": 1, "at": 1},
            )
            async for h in history:
                seen = latest.get(h["user_id"])
                if seen is None or h["at"] >= seen[0]:
                    latest[h["user_id"]] = (h["at"], h["after"])
            key = board_key(metric, period, pkey)
            counts[key] = await boards.replace(
                key,
                {u: round(v, 2) for u, (_, v) in latest.items()},
                expires_at(period, pkey),
                f"rating:{category}",
                {},
            )
    await boards.set_names(await profiles.all_names())
    return counts
