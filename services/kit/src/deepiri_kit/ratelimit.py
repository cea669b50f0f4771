"""Per-caller rate limiting in Redis (GCRA: a smooth token bucket in one atomic script).

Every service with Redis gets it: ``RATE_LIMIT_PER_MINUTE`` sustained, ``RATE_LIMIT_BURST``
at once, keyed by the token's subject (or the client address on public routes). Answers
carry ``X-RateLimit-Limit/Remaining/Reset``; a refusal is a 429 problem with
``Retry-After``. If Redis is unreachable the request is let through: a cache outage must
not become an API outage (readiness reports Redis instead).
"""

from __future__ import annotations

import logging
import math
import time
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


class RateLimitMiddleware:
    """Route-level: runs after authentication so limits follow the caller, not the IP."""

    def __init__(
        self, app: ASGIApp, per_minute: int, burst: int, service: str, exempt: tuple[str, ...]
    ) -> None:
        self.app = app
        self.exempt = frozenset(exempt)  # probes and scrapes
        self.emission_ms = 60_000 / per_minute
        self.burst = burst
        self.per_minute = per_minute
        self.prefix = f"ratelimit:{service}:"
        self._script: Any = None
        self._skip_until = 0.0  # after a Redis failure, stop asking for a while

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in self.exempt
            or time.monotonic() < self._skip_until
        ):
            await self.app(scope, receive, send)
            return
        redis = scope["app"].state.platform.redis
        subject = getattr(scope.get("user"), "subject", None)
        caller = f"sub:{subject}" if subject else f"ip:{(scope.get('client') or ('-',))[0]}"
        try:
            if self._script is None:
                self._script = redis.register_script(GCRA)
            allowed, retry_ms, remaining, reset_ms = await self._script(
                keys=[self.prefix + caller], args=[self.emission_ms, self.burst]
            )
        except (RedisError, OSError) as exc:
            # Each try would cost a connect timeout: skip the limiter for a few seconds.
            self._skip_until = time.monotonic() + SKIP_AFTER_FAILURE_SECONDS
            log.warning("rate limiter unavailable, letting requests through: %s", exc)
            await self.app(scope, receive, send)
            return
        headers = [
            (b"x-ratelimit-limit", str(self.per_minute).encode()),
            (b"x-ratelimit-remaining", str(max(0, int(remaining))).encode()),
            (b"x-ratelimit-reset", str(math.ceil(int(reset_ms) / 1000)).encode()),
        ]
        if not allowed:
            LIMITED.inc()
            retry_after = max(1, math.ceil(int(retry_ms) / 1000))
            await _refuse(scope, send, headers, retry_after)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
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
