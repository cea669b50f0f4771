"""The background worker that keeps MongoDB and Redis in step.

Every few seconds it publishes outbox entries that could not be published inline (and
re-syncs the leaderboards with them — that is how boards catch up after a Redis outage),
finishes matches left half-applied, and applies ledger entries a wallet has not applied
``reconcile_after_seconds`` after they were written (a crash between the ledger write and
the wallet's snapshot). On start-up it backfills badges added to the catalog since the last run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from deepiri_kit import pause
from gamification_service.domain.badges import BadgeDef
from gamification_service.store.ratings import RatingStore
from gamification_service.store.wallets import WalletStore

log = logging.getLogger("gamification.maintenance")
CATALOG_DOC = "badge_catalog"
LOOKBACK_SECONDS = 3600.0
FULL_SWEEP_SECONDS = 600.0
PRUNE_SECONDS = 600.0


async def backfill_badges(
    wallets: WalletStore,
    meta: AsyncCollection[dict[str, Any]],
    catalog: Sequence[BadgeDef],
    force: bool = False,
) -> int:
    """Award badges added since the last run to everyone whose recorded stats qualify."""
    ids = sorted(b.id for b in catalog)
    stored = await meta.find_one({"_id": CATALOG_DOC})
    if not force and stored is not None and stored.get("ids") == ids:
        return 0
    users = await wallets.all_users()
    for user_id in users:
        await wallets.award_badges(user_id)
    await meta.update_one({"_id": CATALOG_DOC}, {"$set": {"ids": ids}}, upsert=True)
    log.info("badge backfill: %d wallet(s) evaluated against %d definitions", len(users), len(ids))
    return len(users)


class Maintenance:
    name = "gamification-maintenance"

    def __init__(
        self,
        wallets: WalletStore,
        ratings: RatingStore,
        meta: AsyncCollection[dict[str, Any]],
        *,
        interval: float = 2.0,
        reconcile_interval: float = 5.0,
        reconcile_after: float = 10.0,
        outbox_min_age: float = 5.0,
    ) -> None:
        self.wallets = wallets
        self.ratings = ratings
        self.meta = meta
        self.interval = interval
        self.reconcile_interval = reconcile_interval
        self.reconcile_after = reconcile_after
        self.outbox_min_age = outbox_min_age
        self._backfilled = False
        self._last_reconcile = 0.0
        self._last_full_sweep = 0.0
        self._last_prune = time.monotonic()

    async def once(self, *, min_age: float | None = None) -> dict[str, int]:
        """One pass of everything (tests call it with ``min_age=0``)."""
        age = self.outbox_min_age if min_age is None else min_age
        now = time.monotonic()
        # Recent snapshots every pass; all of them every FULL_SWEEP_SECONDS (a Redis outage
        # longer than the lookback is caught up then).
        full = min_age is not None or now - self._last_full_sweep >= FULL_SWEEP_SECONDS
        if full:
            self._last_full_sweep = now
        report = {
            "outbox": await self.wallets.sweep_outbox(age, None if full else LOOKBACK_SECONDS),
            "matches": await self.ratings.sweep(age),
        }
        if min_age is not None or now - self._last_reconcile >= self.reconcile_interval:
            self._last_reconcile = now
            after = self.reconcile_after if min_age is None else min_age
            report["caught_up"] = await self.wallets.catch_up_lagging(after)
        if now - self._last_prune >= PRUNE_SECONDS:
            self._last_prune = now
            report["pruned"] = await self.wallets.prune_snapshots()
        return report

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if not self._backfilled:
                    await backfill_badges(self.wallets, self.meta, self.wallets.catalog)
                    self._backfilled = True
                await self.once()
            except (PyMongoError, RedisError, OSError) as exc:
                log.warning("maintenance pass failed, will retry: %s", exc)
            await pause(stop, self.interval)
