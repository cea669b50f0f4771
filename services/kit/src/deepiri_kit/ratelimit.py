"""Per-caller rate limiting in Redis (GCRA: a smooth token bucket in one atomic script).

Every service with Redis gets it: ``RATE_LIMIT_PER_MINUTE`` sustained, ``RATE_LIMIT_BURST``
at once, keyed by the token's subject (or the client address on public routes and for
requests whose token is missing or invalid). Answers
carry ``X-RateLimit-Limit/Remaining/Reset``; a refusal is a 429 problem with
``Retry-After``. If Redis does not answer within ``RATE_LIMIT_TIMEOUT_SECONDS`` the request
is let through: a cache outage must not become an API outage (readiness reports Redis).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from deepiri_kit import metrics
from deepiri_kit.problems import problem_body

log = logging.getLogger("deepiri.ratelimit")
SKIP_AFTER_FAILURE_SECONDS = 5.0
LIMITED = metrics.counter("deepiri_rate_limited_total", "Requests refused with 429.", ())

# KEYS[1] bucket; ARGV: emission interval (ms per request), burst. Uses Redis's clock so
# replicas with skewed clocks agree. Returns {allowed, retry_after_ms, remaining, reset_ms}.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission
local allow_at = new_tat - emission * burst
if allow_at > now then
  return {0, allow_at - now, 0, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0, math.floor((now + emission * burst - new_tat) / emission), new_tat - now}
"""

ASGIApp = Any


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int  # seconds; 0 when allowed
    headers: list[tuple[bytes, bytes]]


class RateLimiter:
    """GCRA buckets in Redis. ``check`` answers None when Redis does not answer within
    ``timeout``: the limiter only decorates requests, so it fails open, fast, and then
    stops asking for a few seconds."""

    def __init__(
        self, redis: Any, *, per_minute: int, burst: int, service: str, timeout: float
    ) -> None:
        self.redis = redis
        self.emission_ms = 60_000 / per_minute
        self.burst = burst
        self.per_minute = per_minute
        self.timeout = timeout
        self.prefix = f"ratelimit:{service}:"
        self._script: Any = None
        self._skip_until = 0.0  # after a Redis failure, stop asking for a while

    async def check(self, caller: str) -> Verdict | None:
        if time.monotonic() < self._skip_until:
            return None
        try:
            if self._script is None:
                self._script = self.redis.register_script(GCRA)
            async with asyncio.timeout(self.timeout):
                allowed, retry_ms, remaining, reset_ms = await self._script(
                    keys=[self.prefix + caller], args=[self.emission_ms, self.burst]
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._skip_until = time.monotonic() + SKIP_AFTER_FAILURE_SECONDS
            log.warning("rate limiter unavailable, letting requests through: %r", exc)
            return None
        headers = [
            (b"x-ratelimit-limit", str(self.per_minute).encode()),
            (b"x-ratelimit-remaining", str(max(0, int(remaining))).encode()),
            (b"x-ratelimit-reset", str(math.ceil(int(reset_ms) / 1000)).encode()),
        ]
        if allowed:
            return Verdict(True, 0, headers)
        LIMITED.inc()
        return Verdict(False, max(1, math.ceil(int(retry_ms) / 1000)), headers)


def address_key(scope: Any) -> str:
    """The bucket for a caller without a valid token: its address, as uvicorn resolved it
    (X-Forwarded-For counts only from the proxies in FORWARDED_ALLOW_IPS)."""
    return f"ip:{(scope.get('client') or ('-',))[0]}"


class RateLimitMiddleware:
    """Route-level: runs after authentication so limits follow the caller, not the IP.
    (Requests that fail authentication are limited by address in auth.py.)"""

    def __init__(self, app: ASGIApp, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.exempt = frozenset(exempt)  # probes and scrapes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        limiter: RateLimiter | None = scope["app"].state.platform.limiter
        if scope["type"] != "http" or scope["path"] in self.exempt or limiter is None:
            await self.app(scope, receive, send)
            return
        subject = getattr(scope.get("user"), "subject", None)
        verdict = await limiter.check(f"sub:{subject}" if subject else address_key(scope))
        if verdict is None:
            await self.app(scope, receive, send)
            return
        if not verdict.allowed:
            await _refuse(scope, send, verdict.headers, verdict.retry_after)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *verdict.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(
    scope: dict[str, Any], send: Any, headers: list[tuple[bytes, bytes]], retry_after: int
) -> None:
    import msgspec

    body = problem_body(
        429,
        title="Too Many Requests",
        detail=f"rate limit exceeded; retry in {retry_after}s",
        slug="too-many-requests",
        instance=scope["path"],
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"retry-after", str(retry_after).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": msgspec.json.encode(body)})
