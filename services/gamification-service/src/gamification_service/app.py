"""gamification-service's Litestar app, built from the shared kit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from litestar import Litestar

from deepiri_kit import Platform, Wiring, from_state, load_settings, retry_startup
from deepiri_kit import create_app as kit_app
from deepiri_kit.events import Consumer, RedisInbox
from gamification_service.api import ROUTES, AdminOps
from gamification_service.domain.catalog import BADGES
from gamification_service.domain.currencies import parse_rates
from gamification_service.events.consume import CHALLENGES, GROUP, TASKS, USERS, Handlers
from gamification_service.settings import GamificationSettings
from gamification_service.store.boards import Boards
from gamification_service.store.maintenance import Maintenance
from gamification_service.store.profiles import Profiles
from gamification_service.store.ratings import RatingStore
from gamification_service.store.wallets import WalletStore

PREFIX = "/api/gamification"


@dataclass
class Stores:
    wallets: WalletStore
    ratings: RatingStore
    boards: Boards
    profiles: Profiles
    inbox: RedisInbox
    handlers: Handlers


def build_stores(platform: Platform) -> Stores:
    db = platform.require_mongo()
    bus = platform.require_bus()
    boards = Boards(platform.require_redis())
    ratings = RatingStore(db, boards, bus)
    wallets = WalletStore(db, boards, bus, BADGES, rating_facts=ratings.facts)
    profiles = Profiles(db, boards)
    # The inbox only makes redeliveries cheap; the ledger's unique key is what makes crediting
    # exactly-once. In Redis it costs no MongoDB write per event (FerretDB updates are slow).
    inbox = RedisInbox(platform.require_redis(), retention_days=2)
    return Stores(wallets, ratings, boards, profiles, inbox, Handlers(wallets, profiles))


async def prepare(platform: Platform, stores: Stores) -> None:
    await retry_startup(stores.wallets.ensure_indexes, what="wallet indexes")
    await retry_startup(stores.ratings.ensure_indexes, what="rating indexes")


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    settings = platform.settings
    assert isinstance(settings, GamificationSettings)
    stores = build_stores(platform)
    await prepare(platform, stores)
    consumer = Consumer(
        platform.require_redis(),
        group=GROUP,
        handlers={
            TASKS: stores.handlers.tasks,
            CHALLENGES: stores.handlers.challenges,
            USERS: stores.handlers.users,
        },
        inbox=stores.inbox,
        block_ms=settings.consumer_block_ms,
    )
    maintenance = Maintenance(
        stores.wallets,
        stores.ratings,
        platform.require_mongo()["meta"],
        interval=settings.relay_interval_seconds,
        reconcile_interval=settings.reconcile_interval_seconds,
        reconcile_after=settings.reconcile_after_seconds,
    )
    yield Wiring(
        state={
            "wallets": stores.wallets,
            "ratings": stores.ratings,
            "boards": stores.boards,
            "profiles": stores.profiles,
            "ops": AdminOps(
                rates=parse_rates(settings.conversion_rates), meta=platform.require_mongo()["meta"]
            ),
            "maintenance": maintenance,
            "handlers": stores.handlers,
        },
        workers=[consumer, *maintenance.workers()],
        # Keyed writes stamp the document that commits them (see deepiri_kit.idempotency).
        stamped=[stores.wallets.ledger, stores.ratings.matches],
    )


def create_app(settings: GamificationSettings | None = None) -> Litestar:
    settings = settings or load_settings(GamificationSettings)
    parse_rates(settings.conversion_rates)  # a bad CONVERSION_RATES fails at start, not later
    return kit_app(
        settings,
        prefix=PREFIX,
        title="Deepiri gamification-service",
        description="Multi-currency wallets and ledger, rewards, levels, badges, ratings, leaderboards.",
        route_handlers=ROUTES,
        dependencies={
            name: from_state(name) for name in ("wallets", "ratings", "boards", "profiles", "ops")
        },
        setup=setup,
    )
