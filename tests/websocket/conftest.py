"""websocket-service's app on the harness's servers; the shared fixtures (tests/conftest.py) call it
in-process (``client``) or start the service as a process (``service_process``)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from deepiri_kit import load_settings
from websocket_service.app import create_app
from websocket_service.settings import WebsocketSettings


@pytest.fixture
def settings(redis_service_env: dict[str, Any]) -> WebsocketSettings:
    """On the harness's Redis and the test issuer (no MongoDB: the service has none); events
    noticed within 0.1 s."""
    return load_settings(WebsocketSettings, {}, **redis_service_env, consumer_block_ms=100)


@pytest.fixture
def app(settings: WebsocketSettings) -> Litestar:
    return create_app(settings)
