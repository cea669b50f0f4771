"""gamification-service's Litestar app, built from the shared kit: routes, dependencies, the
stores and use cases on the platform's clients, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from deepiri_kit import Platform, Wiring, from_state, load_settings, retry_startup
from deepiri_kit import create_app as kit_app
from deepiri_kit.data.mongo import Tombstones
from gamification_service import workers
from gamification_service.api import ROUTES
from gamification_service.domain.catalog import BADGES
from gamification_service.domain.currencies import parse_rates
from gamification_service.service import (
    Erasure,
    FriendBoards,
    Gamification,
    Leaderboards,
    Ratings,
    Reactions,
    Rebuild,
    Wallets,
)
from gamification_service.settings import GamificationSettings
from gamification_service.store.boards import Boards
from gamification_service.store.friends import Friendships
from gamification_service.store.ledger import Ledger
from gamification_service.store.meta import Meta
from gamification_service.store.profiles import Profiles
from gamification_service.store.ratings import RatingStore
from gamification_service.store.snapshots import Snapshots
from gamification_service.store.social_graph import SocialGraph

PREFIX = "/api/gamification"
USE_CASES = ("wallets", "ratings", "leaderboards", "friends")


async def build(
    platform: Platform, *, prepare: bool = True, graph: SocialGraph | None = None
) -> Gamification:
    """The use cases on this platform's clients; the app, the CLI and the tests start here.
    ``prepare``: create the indexes first (retrying until MongoDB answers). ``graph``:
    user-service's social graph, for rebuilding friendships (without it they are kept from
    events only)."""
    settings = platform.settings
    assert isinstance(settings, GamificationSettings)
    db, bus = platform.require_mongo(), platform.require_bus()
    boards = Boards(platform.require_redis())
    friendships = Friendships(platform.require_redis())
    ledger, snapshots, ratings = (
        Ledger(db),
        Snapshots(db, boards, bus),
        RatingStore(db, boards, bus),
    )
    profiles = Profiles(db, boards)
    erasure = Erasure(Tombstones(db), ledger, snapshots, ratings, profiles, boards, friendships)
    # What a sweep delivers for an account erased meanwhile is erased again.
    snapshots.chain.after_sweep = ratings.chain.after_sweep = erasure.after_sweep
    if prepare:
        await retry_startup(ledger.ensure_indexes, what="ledger indexes")
        await retry_startup(snapshots.ensure_indexes, what="wallet indexes")
        await retry_startup(ratings.ensure_indexes, what="rating indexes")
    wallets = Wallets(
        ledger,
        snapshots,
        Meta(db),
        BADGES,
        ratings=ratings,
        rates=parse_rates(settings.conversion_rates),
        erasure=erasure,
    )
    friends = FriendBoards(boards, friendships, profiles, ledger, erasure, graph)
    rated = Ratings(ratings, wallets, boards, profiles)
    return Gamification(
        wallets=wallets,
        ratings=rated,
        leaderboards=Leaderboards(
            boards, profiles, Rebuild(boards, profiles, ledger, snapshots, ratings)
        ),
        friends=friends,
        reactions=Reactions(wallets, profiles, erasure, friends, rated),
    )


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    settings = platform.settings
    assert isinstance(settings, GamificationSettings)
    graph = social_graph(settings)
    try:
        game = await build(platform, graph=graph)
        yield Wiring(
            state={name: getattr(game, name) for name in USE_CASES},
            workers=workers.background(platform, game, settings),
            # Keyed writes stamp the document that commits them (see deepiri_kit.idempotency).
            stamped=[game.wallets.ledger.entries, game.ratings.store.matches],
        )
    finally:
        await graph.close()


def social_graph(settings: GamificationSettings) -> SocialGraph:
    """user-service's social graph, asked with this service's own client credentials."""
    return SocialGraph(
        settings.provider_url,
        settings.user_service_client_id,
        settings.user_service_client_secret,
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
        dependencies={name: from_state(name) for name in USE_CASES},
        setup=setup,
    )
