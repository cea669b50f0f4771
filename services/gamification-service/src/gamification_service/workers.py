"""Background work for the app's lifetime, each a kit worker on its own interval:

* the event consumer (``events/consume.py`` decodes, ``service/reactions.py`` acts);
* the wallet snapshots' and rating histories' chain workers: they publish events (and
  update the leaderboards with them) that could not go out inline — how boards catch up
  after a Redis outage — within the bound :mod:`deepiri_kit.chain` states, and compact
  delivered outboxes;
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

from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from deepiri_kit import Periodic, Platform, Worker, pause
from deepiri_kit.events import Consumer, RedisInbox
from gamification_service.events import consume
from gamification_service.service import Gamification
from gamification_service.settings import GamificationSettings

log = logging.getLogger("gamification.workers")
PRUNE_SECONDS = 600.0
OUTBOX_MIN_AGE = 5.0
INBOX_RETENTION_DAYS = 2


class BadgeBackfill:
    """Backfills new badges once at start-up, retrying until MongoDB answers."""

    name = "badge-backfill"

    def __init__(self, game: Gamification, retry: float) -> None:
        self.game = game
        self.retry = retry

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.game.wallets.backfill_badges()
            except (PyMongoError, RedisError, OSError) as exc:
                log.warning("badge backfill failed, will retry: %s", exc)
                await pause(stop, self.retry)
            else:
                return


class Maintenance:
    """The jobs that keep MongoDB and Redis in step."""

    def __init__(
        self,
        game: Gamification,
        *,
        interval: float = 2.0,
        reconcile_interval: float = 5.0,
        reconcile_after: float = 10.0,
        outbox_min_age: float = OUTBOX_MIN_AGE,
    ) -> None:
        self.game = game
        self.reconcile_after = reconcile_after
        self.outbox_min_age = outbox_min_age
        wallets, ratings = game.wallets, game.ratings
        self.chains = [
            *wallets.snapshots.workers(interval=interval, min_age=outbox_min_age),
            *ratings.store.workers(interval=interval, min_age=outbox_min_age),
        ]
        self.matches = Periodic(
            "match-finisher", interval, functools.partial(ratings.finish_pending, outbox_min_age)
        )
        self.catch_up = Periodic(
            "wallet-catch-up",
            reconcile_interval,
            functools.partial(wallets.catch_up_lagging, reconcile_after),
        )
        self.pruner = Periodic("snapshot-pruner", PRUNE_SECONDS, wallets.snapshots.prune)
        self.backfill = BadgeBackfill(game, retry=interval)

    def workers(self) -> list[Worker]:
        return [self.backfill, *self.chains, self.matches, self.catch_up, self.pruner]

    async def once(self, *, min_age: float | None = None) -> dict[str, int]:
        """Every job once, now (tests; ``min_age=0`` takes even the youngest leftovers)."""
        age = self.outbox_min_age if min_age is None else min_age
        wallets, ratings = self.game.wallets, self.game.ratings
        return {
            "matches": await ratings.finish_pending(age),
            "outbox": await wallets.snapshots.sweep(age) + await ratings.store.sweep(age),
            "compacted": await wallets.snapshots.compact() + await ratings.store.compact(),
            "caught_up": await wallets.catch_up_lagging(
                self.reconcile_after if min_age is None else min_age
            ),
        }


def background(
    platform: Platform, game: Gamification, settings: GamificationSettings
) -> list[Worker]:
    redis = platform.require_redis()
    # The inbox only makes redeliveries cheap; the ledger's unique key is what makes crediting
    # exactly-once. In Redis it costs no MongoDB write per event (FerretDB updates are slow).
    consumer = Consumer(
        redis,
        group=consume.GROUP,
        handlers=consume.Handlers(game.reactions).streams(),
        inbox=RedisInbox(redis, retention_days=INBOX_RETENTION_DAYS),
        block_ms=settings.consumer_block_ms,
    )
    maintenance = Maintenance(
        game,
        interval=settings.relay_interval_seconds,
        reconcile_interval=settings.reconcile_interval_seconds,
        reconcile_after=settings.reconcile_after_seconds,
    )
    return [consumer, *maintenance.workers()]
