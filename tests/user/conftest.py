"""Fixtures for user-service's tests: the app on the harness's servers (helpers that act as a
person would live in tests/support/users.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from deepiri_kit import load_settings
from infra import InfluxServer
from support.users import TEST_CLIENTS, client_of
from user_service.app import create_app
from user_service.settings import UserSettings


@pytest.fixture
def user_settings(service_env: dict[str, Any], influx_server: InfluxServer) -> UserSettings:
    # A short answer floor keeps the suite quick; test_signin checks the real one.
    return load_settings(
        UserSettings,
        influx_server.env(),  # activity: the harness's InfluxDB (people's ids are unique)
        **service_env,
        oauth_clients=json.dumps(TEST_CLIENTS),
        answer_floor_ms=20,
    )


@pytest.fixture
async def app(user_settings: UserSettings, redis: Any) -> AsyncIterator[Litestar]:
    """The app in the test's own event loop with its lifespan (and so its workers) running,
    started after ``redis`` has emptied the harness's Redis."""
    app = create_app(user_settings)
    async with app.lifespan():
        yield app


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as c:
        yield c
