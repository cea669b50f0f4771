"""websocket-service's app on the harness's servers; the shared fixtures (tests/conftest.py) call it
in-process (``client``) or start the service as a process (``service_process``)."""

from __future__ import annotations

import pytest
from litestar import Litestar

from deepiri_kit import load_settings
from infra import RedisServer
from support.tokens import AUDIENCE, ISSUER, TokenIssuer
from websocket_service.app import create_app
from websocket_service.settings import WebsocketSettings


@pytest.fixture
def settings(redis_server: RedisServer, issuer: TokenIssuer) -> WebsocketSettings:
    """On the harness's Redis and the test issuer (no MongoDB: the service has none); events
    noticed within 0.1 s."""
    return load_settings(
        WebsocketSettings,
        {},
        redis_host="127.0.0.1",
        redis_port=redis_server.port,
        jwks_url=issuer.jwks_url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwks_min_refresh_seconds=0.0,
        deepiri_env="test",
        rate_limit_per_minute=0,
        consumer_block_ms=100,
    )


@pytest.fixture
def app(settings: WebsocketSettings) -> Litestar:
    return create_app(settings)
