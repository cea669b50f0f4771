"""Redis (redis.asyncio): the event bus, leaderboards, caches. Never the only copy of state."""

from __future__ import annotations

from redis.asyncio import Redis

from deepiri_kit.settings import RedisSettings


def open_redis(settings: RedisSettings) -> Redis:
    return Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        db=settings.redis_db,
        password=settings.redis_password or None,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )


__all__ = ["open_redis"]
