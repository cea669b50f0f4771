"""Calls to another service over real HTTP: retries on idempotent calls, a circuit breaker,
and the readiness check for an upstream."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from deepiri_kit.health import http_check, readiness
from deepiri_kit.problems import ServiceUnavailable
from deepiri_kit.upstream import CircuitBreaker, Upstream
from support.loopback import LoopbackServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


class FlakyServer:
    """Answers 503 for the first ``failures`` requests, then 200."""

    def __init__(self) -> None:
        self.failures = 0
        self.requests: list[str] = []
        self.server = LoopbackServer(self._respond)
        self.url = self.server.url

    def _respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        self.requests.append(request.command)
        status = 503 if len(self.requests) <= self.failures else 200
        return status, "application/json", b'{"ok": true}'


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    server = FlakyServer()
    yield server
    server.server.close()


async def test_idempotent_calls_are_retried_until_they_succeed(
    flaky: FlakyServer, http: httpx.AsyncClient
) -> None:
    flaky.failures = 2
    upstream = Upstream("ai-service", flaky.url, http, retries=2, backoff=0.01)
    response = await upstream.request("GET", "/ping")
    assert response.status_code == 200
    assert flaky.requests == ["GET", "GET", "GET"]
    assert upstream.breaker.state == "closed"


async def test_unsafe_calls_are_not_retried(flaky: FlakyServer, http: httpx.AsyncClient) -> None:
    flaky.failures = 1
    upstream = Upstream("ai-service", flaky.url, http, retries=2, backoff=0.01)
    with pytest.raises(ServiceUnavailable, match="HTTP 503"):
        await upstream.request("POST", "/generate", json={})
    assert flaky.requests == ["POST"]  # a POST might have had an effect: never sent twice


async def test_breaker_opens_and_then_fails_fast(
    flaky: FlakyServer, http: httpx.AsyncClient
) -> None:
    flaky.failures = 100
    breaker = CircuitBreaker(threshold=3, reset_after=60)
    upstream = Upstream("ai-service", flaky.url, http, retries=0, breaker=breaker)
    for _ in range(3):
        with pytest.raises(ServiceUnavailable):
            await upstream.request("GET", "/ping")
    sent = len(flaky.requests)
    with pytest.raises(ServiceUnavailable, match="circuit open"):
        await upstream.request("GET", "/ping")
    assert len(flaky.requests) == sent  # short-circuited: the upstream was not called


async def test_dead_upstream_is_a_503_problem_not_a_crash(http: httpx.AsyncClient) -> None:
    upstream = Upstream("ai-service", "http://127.0.0.1:9", http, retries=1, backoff=0.01)
    with pytest.raises(ServiceUnavailable, match="ConnectError") as info:
        await upstream.request("GET", "/ping")
    assert info.value.status == 503
    assert info.value.extra == {"upstream": "ai-service"}


async def test_readiness_checks_an_upstream(flaky: FlakyServer, http: httpx.AsyncClient) -> None:
    flaky.failures = 1
    check = http_check("ai-service", http, f"{flaky.url}/health")
    ok, body = await readiness([check], 1.0)
    assert not ok
    assert body["failing"] == ["ai-service"]
    assert "503" in body["checks"]["ai-service"]["error"]
    ok, body = await readiness([check], 1.0)
    assert ok
