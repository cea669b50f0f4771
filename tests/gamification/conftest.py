"""Fixtures: the real app (lifespan, consumer and maintenance worker running) against the
harness's FerretDB and Redis, and the stores without the app for lower-level tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from deepiri_kit import Platform, load_settings
from gamification.helpers import gamification_env
from gamification_service.app import Stores, build_stores, create_app, prepare
from gamification_service.settings import GamificationSettings


@pytest.fixture
def settings(service_env: dict[str, Any]) -> GamificationSettings:
    return load_settings(GamificationSettings, {}, **gamification_env(service_env))


@pytest.fixture
async def client(settings: GamificationSettings, redis: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(settings)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
async def stores(settings: GamificationSettings, redis: Any) -> AsyncIterator[Stores]:
    platform = await Platform.open(settings)
    try:
        built = build_stores(platform)
        await prepare(platform, built)
        yield built
    finally:
        await platform.close()
