"""Calls to another Deepiri service when an answer is needed now (ARCHITECTURE §4).

Timeouts on every call, retries with jittered back-off only for idempotent methods, and a
circuit breaker so a dead upstream costs callers nothing but a fast 503.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from deepiri_kit import metrics
from deepiri_kit.problems import ServiceUnavailable
from deepiri_kit.retry import backoff

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
UPSTREAM_CALLS = metrics.counter(
    "deepiri_upstream_calls_total", "Calls to other services, by outcome.", ("upstream", "outcome")
)
BREAKER_OPEN = metrics.gauge(
    "deepiri_upstream_breaker_open",
    "1 while the circuit to an upstream is open.",
    ("upstream",),
    multiprocess_mode="livemax",
)


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``reset_after`` seconds one trial
    call is let through (half-open) and its outcome closes or re-opens the circuit."""

    def __init__(
        self,
        threshold: int = 5,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.reset_after = reset_after
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.reset_after else "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        self._trial_in_flight = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = self.clock()


class Upstream:
    def __init__(
        self,
        name: str,
        base_url: str,
        http: httpx.AsyncClient,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.1,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.breaker = breaker or CircuitBreaker()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The upstream's response (any status < 500), or ServiceUnavailable."""
        attempts = 1 + (self.retries if method.upper() in IDEMPOTENT else 0)
        last_error = "unknown error"
        for attempt in range(attempts):
            if not self.breaker.allow():
                UPSTREAM_CALLS.labels(self.name, "short_circuited").inc()
                BREAKER_OPEN.labels(self.name).set(1)
                raise ServiceUnavailable(
                    f"{self.name} is unavailable (circuit open)", upstream=self.name
                )
            try:
                response = await self.http.request(
                    method, self.base_url + path, timeout=self.timeout, **kwargs
                )
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}"
            else:
                if response.status_code < 500:
                    self.breaker.record_success()
                    BREAKER_OPEN.labels(self.name).set(0)
                    UPSTREAM_CALLS.labels(self.name, "ok").inc()
                    return response
                last_error = f"HTTP {response.status_code}"
            self.breaker.record_failure()
            UPSTREAM_CALLS.labels(self.name, "failed").inc()
            if attempt + 1 < attempts:
                jitter = 0.5 + random.random()  # noqa: S311 - spreads retries, not a secret
                await asyncio.sleep(backoff(attempt + 1, first=self.backoff) * jitter)
        raise ServiceUnavailable(f"{self.name} did not answer: {last_error}", upstream=self.name)
