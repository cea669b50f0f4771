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
from support.openai_fake import OpenAIFake


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    fake = OpenAIFake()
    yield fake
    fake.close()


@pytest.fixture
def settings_for(
    redis_service_env: dict[str, Any], openai_fake: OpenAIFake
) -> Callable[..., AiSettings]:
    def make(**changes: Any) -> AiSettings:
        values: dict[str, Any] = {
            **redis_service_env,
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
