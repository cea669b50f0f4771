"""Fixtures: the real app (``client`` runs it in-process with its lifespan, consumer and
maintenance worker) against the harness's FerretDB and Redis, and the use cases without the
app for lower-level tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar

from deepiri_kit import Platform, load_settings
from gamification_service.app import build, create_app
from gamification_service.service import Gamification
from gamification_service.settings import GamificationSettings
from support.gamification import gamification_env


@pytest.fixture
def settings(service_env: dict[str, Any]) -> GamificationSettings:
    return load_settings(GamificationSettings, {}, **gamification_env(service_env))


@pytest.fixture
def app(settings: GamificationSettings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def game(settings: GamificationSettings, redis: Any) -> AsyncIterator[Gamification]:
    platform = await Platform.open(settings)
    try:
        yield await build(platform)
    finally:
        await platform.close()
