"""Fixtures: the real app (lifespan, consumer and maintenance worker running) against the
harness's FerretDB and Redis, and the use cases without the app for lower-level tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from deepiri_kit import Platform, load_settings
from gamification.helpers import gamification_env
from gamification_service.app import build, create_app
from gamification_service.service import Gamification
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
async def game(settings: GamificationSettings, redis: Any) -> AsyncIterator[Gamification]:
    platform = await Platform.open(settings)
    try:
        yield await build(platform)
    finally:
        await platform.close()
