"""The Litestar app, built from the kit: routes, dependencies, set-up, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from challenge_service import workers
from challenge_service.api import ROUTES
from challenge_service.service import ItemService
from challenge_service.settings import ChallengeSettings
from challenge_service.store.items import ItemStore
from deepiri_kit import Platform, Wiring, from_state, load_settings, retry_startup
from deepiri_kit import create_app as kit_app

PREFIX = "/api/challenges"


async def build(platform: Platform) -> ItemService:
    """The use cases on this platform's clients; the app and the CLI both start here."""
    store = ItemStore(platform.require_mongo(), platform.require_bus())
    await retry_startup(store.ensure_indexes, what="item indexes")
    return ItemService(store)


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    service = await build(platform)
    yield Wiring(state={"service": service}, workers=workers.background(platform, service))


def create_app(settings: ChallengeSettings | None = None) -> Litestar:
    return kit_app(
        settings or load_settings(ChallengeSettings),
        prefix=PREFIX,
        title="Deepiri challenge-service",
        description="Deepiri challenge-service.",
        route_handlers=ROUTES,
        dependencies={"service": from_state("service")},
        setup=setup,
    )
