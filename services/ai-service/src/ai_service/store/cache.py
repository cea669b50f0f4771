"""A short-window cache of answers in Redis: identical requests (same use case, prompt
version, model and request body) within ``ttl`` seconds get the stored answer. A cache that
does not answer is skipped: it saves work, it never decides an answer."""

from __future__ import annotations

import hashlib
import logging
from typing import Any, TypeVar

import msgspec
from redis.exceptions import RedisError

log = logging.getLogger("ai_service.cache")
T = TypeVar("T")
PREFIX = "agent:answer:"


def cache_key(use_case: str, version: str, model: str, request: Any) -> str:
    digest = hashlib.sha256(msgspec.json.encode(request)).hexdigest()
    return f"{PREFIX}{use_case}:{version}:{model}:{digest}"


class AnswerCache:
    def __init__(self, redis: Any, ttl: float) -> None:
        self.redis = redis
        self.ttl_ms = int(ttl * 1000)

    @property
    def enabled(self) -> bool:
        return self.ttl_ms > 0

    async def get(self, key: str, kind: type[T]) -> T | None:
        if not self.enabled:
            return None
        try:
            raw = await self.redis.get(key)
        except (RedisError, OSError) as exc:
            log.warning("answer cache unavailable: %r", exc)
            return None
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=kind)
        except msgspec.ValidationError:
            return None  # written by another version of the contract: answer afresh

    async def put(self, key: str, answer: Any) -> None:
        if not self.enabled:
            return
        try:
            await self.redis.set(key, msgspec.json.encode(answer), px=self.ttl_ms)
        except (RedisError, OSError) as exc:
            log.warning("answer cache unavailable: %r", exc)
