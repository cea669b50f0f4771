"""The clients a service runs with, opened in its lifespan and closed on shutdown.

Which clients exist follows from the settings type: a service whose settings inherit
:class:`MongoSettings` gets MongoDB, and its readiness checks MongoDB, and so on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from deepiri_kit.auth import JWKSCache, TokenVerifier
from deepiri_kit.health import Check, influx_check, mongo_check, redis_check
from deepiri_kit.retry import backoff
from deepiri_kit.settings import InfluxSettings, MongoSettings, RedisSettings, ServiceSettings

if TYPE_CHECKING:
    from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
    from pymongo import AsyncMongoClient
    from pymongo.asynchronous.database import AsyncDatabase
    from redis.asyncio import Redis

    from deepiri_kit.events import EventBus
    from deepiri_kit.ratelimit import RateLimiter


@dataclass
class Platform:
    settings: ServiceSettings
    http: httpx.AsyncClient
    tokens: TokenVerifier
    mongo_client: AsyncMongoClient[dict[str, Any]] | None = None
    mongo: AsyncDatabase[dict[str, Any]] | None = None
    redis: Redis | None = None
    influx: InfluxDBClientAsync | None = None
    bus: EventBus | None = None
    limiter: RateLimiter | None = None
    checks: list[Check] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: ServiceSettings) -> Platform:
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(5.0, connect=2.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"user-agent": f"deepiri/{settings.service_name}"},
        )
        jwks = JWKSCache(
            settings.jwks_url, http, min_refresh_seconds=settings.jwks_min_refresh_seconds
        )
        platform = cls(
            settings=settings,
            http=http,
            tokens=TokenVerifier(
                jwks,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                algorithms=settings.jwt_algorithms.split(","),
            ),
        )
        platform._closers.append(http.aclose)
        if isinstance(settings, MongoSettings):
            from deepiri_kit.data.mongo import database, open_mongo

            platform.mongo_client = open_mongo(settings, settings.service_name)
            platform.mongo = database(platform.mongo_client, settings)
            platform.checks.append(mongo_check(platform.mongo_client))
            platform._closers.append(platform.mongo_client.close)
        if isinstance(settings, RedisSettings):
            from deepiri_kit.data.redis import open_redis
            from deepiri_kit.events import EventBus

            platform.redis = open_redis(settings)
            platform.bus = EventBus(platform.redis)
            platform.checks.append(redis_check(platform.redis))
            if settings.rate_limit_per_minute > 0:
                from deepiri_kit.ratelimit import RateLimiter

                platform.limiter = RateLimiter(
                    platform.redis,
                    per_minute=settings.rate_limit_per_minute,
                    burst=settings.rate_limit_burst,
                    service=settings.service_name,
                    timeout=settings.rate_limit_timeout_seconds,
                )
            platform._closers.append(platform.redis.aclose)
        if isinstance(settings, InfluxSettings):
            from deepiri_kit.data.influx import open_influx

            platform.influx = open_influx(settings)
            platform.checks.append(
                influx_check(platform.influx, required=settings.influxdb_required)
            )
            platform._closers.append(platform.influx.close)
        return platform

    async def close(self) -> None:
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:  # noqa: S112 - closing best-effort on shutdown
                continue

    # Typed accessors for services that declared the dependency (fail loudly otherwise).
    def require_mongo(self) -> AsyncDatabase[dict[str, Any]]:
        assert self.mongo is not None, "settings do not inherit MongoSettings"
        return self.mongo

    def require_redis(self) -> Redis:
        assert self.redis is not None, "settings do not inherit RedisSettings"
        return self.redis

    def require_bus(self) -> EventBus:
        assert self.bus is not None, "settings do not inherit RedisSettings"
        return self.bus

    def require_influx(self) -> InfluxDBClientAsync:
        assert self.influx is not None, "settings do not inherit InfluxSettings"
        return self.influx


async def retry_startup(
    step: Callable[[], Awaitable[Any]], *, what: str, attempts: int = 30
) -> None:
    """Run a start-up step (index creation, consumer groups) until its server answers, so pods
    need no init containers and start in any order."""
    import logging

    log = logging.getLogger("deepiri.startup")
    for attempt in range(1, attempts + 1):
        try:
            await step()
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("%s failed (attempt %d/%d), retrying: %s", what, attempt, attempts, exc)
            await asyncio.sleep(backoff(attempt, first=0.4, limit=5.0))
