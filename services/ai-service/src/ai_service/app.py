"""The Litestar app, built from the kit: routes, dependencies, set-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from ai_service import workers
from ai_service.api import ROUTES
from ai_service.domain.usage import parse_prices
from ai_service.service import AgentService, Prompts
from ai_service.settings import AiSettings
from ai_service.store.cache import AnswerCache
from ai_service.store.model import ModelEndpoint, endpoint_client
from ai_service.store.prompts import load_library, pick
from deepiri_kit import CircuitBreaker, Platform, RateLimiter, Wiring, from_state, load_settings
from deepiri_kit import create_app as kit_app

PREFIX = "/api/agent"


def build(platform: Platform, settings: AiSettings) -> AgentService:
    """The use cases on this platform's clients; the app and the CLI both start here.
    Refuses to start on a missing prompt version or a malformed price list."""
    library = load_library()
    prompts = Prompts(
        challenge=pick(library, settings.prompt_challenge, "challenge"),
        task=pick(library, settings.prompt_task, "task"),
    )
    client = None
    if settings.openai_base_url:
        client = endpoint_client(
            settings.openai_base_url,
            settings.openai_api_key,
            connect_timeout=settings.openai_connect_timeout_seconds,
        )
    endpoint = ModelEndpoint(
        client,
        breaker=CircuitBreaker(settings.breaker_failures, settings.breaker_reset_seconds),
        attempt_timeout=settings.openai_timeout_seconds,
        budget=settings.openai_budget_seconds,
        retries=settings.openai_retries,
        stream=settings.openai_stream,
        max_tokens=settings.openai_max_tokens,
    )
    redis = platform.require_redis()
    limiter = None
    if settings.user_rate_per_minute > 0:
        limiter = RateLimiter(
            redis,
            per_minute=settings.user_rate_per_minute,
            burst=settings.user_rate_burst,
            service=f"{settings.service_name}:user",
            timeout=settings.rate_limit_timeout_seconds,
        )
    return AgentService(
        endpoint,
        prompts,
        settings.model_for,
        AnswerCache(redis, settings.answer_cache_seconds),
        limiter,
        parse_prices(settings.openai_prices),
    )


def create_app(settings: AiSettings | None = None) -> Litestar:
    config = settings or load_settings(AiSettings)

    @asynccontextmanager
    async def setup(platform: Platform) -> AsyncIterator[Wiring]:
        service = build(platform, config)
        try:
            yield Wiring(state={"service": service}, workers=workers.background())
        finally:
            await service.endpoint.close()

    return kit_app(
        config,
        prefix=PREFIX,
        title="Deepiri ai-service",
        description=(
            "Challenge generation and task understanding for other Deepiri services "
            "(client-credentials tokens with agent:invoke): an OpenAI-compatible model when "
            "one is configured and answers within the platform's rules, a deterministic "
            "fallback otherwise."
        ),
        route_handlers=ROUTES,
        dependencies={"service": from_state("service")},
        setup=setup,
    )
