"""Redis (redis.asyncio): the event bus, leaderboards, caches. Never the only copy of state."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError

from deepiri_kit.settings import RedisSettings


def open_redis(settings: RedisSettings) -> Redis:
    return Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        db=settings.redis_db,
        password=settings.redis_password or None,
        decode_responses=True,
        socket_connect_timeout=settings.redis_connect_timeout_seconds,
        socket_timeout=settings.redis_socket_timeout_seconds,
        # One immediate retry on a dropped connection, none on a timeout: redis-py's default
        # (three, with backoff) turned one paused Redis into a 30 s wait per call.
        retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
        health_check_interval=30,
    )


__all__ = ["open_redis"]
