"""ai-service's app on the harness's Redis and the test issuer, its model endpoint a local
OpenAI-protocol fake (tests/support/openai_fake.py); ``settings_for(**changes)`` builds
other configurations (no endpoint, streaming, tight budgets)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar import Litestar

from ai_service.app import create_app
from ai_service.settings import AiSettings
from deepiri_kit import load_settings
from infra import RedisServer
from support.openai_fake import OpenAIFake
from support.tokens import AUDIENCE, ISSUER, TokenIssuer


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    fake = OpenAIFake()
    yield fake
    fake.close()


@pytest.fixture
def settings_for(
    redis_server: RedisServer, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> Callable[..., AiSettings]:
    def make(**changes: Any) -> AiSettings:
        values: dict[str, Any] = {
            "redis_host": "127.0.0.1",
            "redis_port": redis_server.port,
            "jwks_url": issuer.jwks_url,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            "jwks_min_refresh_seconds": 0.0,
            "deepiri_env": "test",
            "rate_limit_per_minute": 0,
            "user_rate_per_minute": 0,
            "openai_base_url": openai_fake.url,
            "openai_api_key": openai_fake.api_key,
            "openai_model": "fake-model",
            "openai_timeout_seconds": 2.0,
            "openai_budget_seconds": 5.0,
            "openai_prices": "fake-model=2/8",
            **changes,
        }
        return load_settings(AiSettings, {}, **values)

    return make


@pytest.fixture
def settings(settings_for: Callable[..., AiSettings]) -> AiSettings:
    return settings_for()


@pytest.fixture
def app(settings: AiSettings) -> Litestar:
    return create_app(settings)
