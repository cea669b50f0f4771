"""The background jobs that keep MongoDB and Redis in step, each a kit worker on its own
interval (no hand-kept timers):

* the wallet snapshots' and rating history's chain workers publish events (and update the
  leaderboards with them) that could not go out inline — how boards catch up after a Redis
  outage — within the bound :mod:`deepiri_kit.chain` states, and compact delivered ones;
* matches left half-applied are finished;
* ledger entries a wallet has not applied ``reconcile_after`` seconds after they were
  written (a crash between the ledger write and the snapshot) are applied;
* old snapshots are pruned;
* on start-up, badges added to the catalog since the last run are backfilled.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from deepiri_kit import Periodic, Worker, pause
from gamification_service.domain.badges import BadgeDef
from gamification_service.store.ratings import RatingStore
from gamification_service.store.wallets import WalletStore

log = logging.getLogger("gamification.maintenance")
CATALOG_DOC = "badge_catalog"
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


class BadgeBackfill:
    """Runs :func:`backfill_badges` once at start-up, retrying until MongoDB answers."""

    name = "badge-backfill"

    def __init__(
        self, wallets: WalletStore, meta: AsyncCollection[dict[str, Any]], retry: float
    ) -> None:
        self.wallets = wallets
        self.meta = meta
        self.retry = retry

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await backfill_badges(self.wallets, self.meta, self.wallets.catalog)
            except (PyMongoError, RedisError, OSError) as exc:
                log.warning("badge backfill failed, will retry: %s", exc)
                await pause(stop, self.retry)
            else:
                return


class Maintenance:
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
        self.reconcile_after = reconcile_after
        self.outbox_min_age = outbox_min_age
        self.chains = [
            *wallets.snapshots.workers(interval=interval, min_age=outbox_min_age),
            *ratings.chain.workers(interval=interval, min_age=outbox_min_age),
        ]
        self.matches = Periodic(
            "match-finisher", interval, functools.partial(ratings.finish_pending, outbox_min_age)
        )
        self.catch_up = Periodic(
            "wallet-catch-up",
            reconcile_interval,
            functools.partial(wallets.catch_up_lagging, reconcile_after),
        )
        self.pruner = Periodic("snapshot-pruner", PRUNE_SECONDS, wallets.prune_snapshots)
        self.backfill = BadgeBackfill(wallets, meta, retry=interval)

    def workers(self) -> list[Worker]:
        return [
            self.backfill,
            *self.chains,
            self.matches,
            self.catch_up,
            self.pruner,
        ]

    async def once(self, *, min_age: float | None = None) -> dict[str, int]:
        """Every job once, now (tests; ``min_age=0`` takes even the youngest leftovers)."""
        age = self.outbox_min_age if min_age is None else min_age
        return {
            "matches": await self.ratings.finish_pending(age),
            "outbox": await self.wallets.snapshots.sweep(age) + await self.ratings.chain.sweep(age),
            "compacted": await self.wallets.snapshots.compact()
            + await self.ratings.chain.compact(),
            "caught_up": await self.wallets.catch_up_lagging(
                self.reconcile_after if min_age is None else min_age
            ),
        }
