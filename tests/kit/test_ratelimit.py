"""Rate limits per caller, in Redis, with standard headers — and fail-open without Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from deepiri_kit.settings import load_settings
from infra import RedisServer
from support.apps import app_client
from support.sample_app import PREFIX, SampleSettings, build
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def app(service_env: dict[str, Any]) -> Litestar:
    limited = {**service_env, "rate_limit_per_minute": 60, "rate_limit_burst": 3}
    return build(load_settings(SampleSettings, {}, **limited))


async def test_burst_then_429_with_retry_after(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    alice = issuer.headers("alice", "notes:read")
    statuses = []
    for _ in range(4):
        response = await client.get(f"{PREFIX}/notes", headers=alice)
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-remaining"] == "0"
    # Another caller has a bucket of their own; probes and scrapes are never limited.
    assert (
        await client.get(f"{PREFIX}/notes", headers=issuer.headers("bob", "notes:read"))
    ).status_code == 200
    for _ in range(10):
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200


async def test_headers_count_down(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    carol = issuer.headers("carol", "notes:read")
    first = await client.get(f"{PREFIX}/notes", headers=carol)
    second = await client.get(f"{PREFIX}/notes", headers=carol)
    assert first.headers["x-ratelimit-limit"] == "60"
    assert (
        int(second.headers["x-ratelimit-remaining"])
        == int(first.headers["x-ratelimit-remaining"]) - 1
    )


async def test_redis_outage_does_not_take_the_api_down(
    service_env: dict[str, Any], issuer: TokenIssuer, tmp_path: Path
) -> None:
    own = RedisServer(tmp_path)
    own.start()
    env = {
        **service_env,
        "redis_port": own.port,
        "rate_limit_per_minute": 60,
        "rate_limit_burst": 3,
    }
    settings = load_settings(SampleSettings, {}, **env)
    async with app_client(build(settings)) as client:
        own.stop()
        for _ in range(5):  # more than the burst: nothing can count them, so none are refused
            response = await client.get(
                f"{PREFIX}/notes", headers=issuer.headers("dave", "notes:read")
            )
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers


async def test_requests_without_a_valid_token_are_limited_per_address(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    """Bad or missing tokens have no caller to limit, only an address: a flood of them is
    refused with 429, while callers with valid tokens keep their own buckets."""
    forged = issuer.token("mallory", "notes:read")[:-4] + "AAAA"  # a broken signature
    statuses = []
    for i in range(6):
        headers = {"Authorization": f"Bearer {forged}"} if i % 2 else {}
        statuses.append((await client.get(f"{PREFIX}/notes", headers=headers)).status_code)
    assert statuses[:3] == [401, 401, 401]
    assert set(statuses[3:]) == {429}
    refused = await client.get(f"{PREFIX}/notes")
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["retry-after"]) >= 1
    valid = await client.get(f"{PREFIX}/notes", headers=issuer.headers("erin", "notes:read"))
    assert valid.status_code == 200
