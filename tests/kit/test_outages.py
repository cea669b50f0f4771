"""A paused (SIGSTOP) Redis or MongoDB never hangs a request: what needs it fails fast with a
503 problem, what it only decorates (rate limits, idempotency on reads) is answered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import pytest
from litestar import Litestar

from deepiri_kit.settings import load_settings
from support.problems import is_503_problem
from support.sample_app import PREFIX, SampleSettings, build
from support.servers import OwnServers, paused
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.slow]

# A generous wall-clock bound on each answer (the hangs this guards against took 30-90 s; a
# heavily loaded 2-core machine overran 5 s while answering within its timeouts);
# not a speed assertion: speed is for the benchmarks.
BOUND_SECONDS = 20
T = TypeVar("T")


async def within_bound(call: Awaitable[T]) -> T:
    async with asyncio.timeout(BOUND_SECONDS):
        return await call


@pytest.fixture
def app(own_servers: OwnServers, service_env: dict[str, Any]) -> Litestar:
    """The sample service on servers of this test's own, so pausing them disturbs nobody."""
    env = {
        **service_env,
        "redis_port": own_servers.redis.port,
        "mongo_uri": own_servers.mongo.uri,
        "rate_limit_per_minute": 6000,  # on: the limiter must not make a Redis outage ours
        "rate_limit_burst": 100,
        "mongo_socket_timeout_seconds": 1.0,
        "mongo_server_selection_timeout_seconds": 1.0,
        "mongo_connect_timeout_seconds": 1.0,
        "redis_socket_timeout_seconds": 1.5,
    }
    return build(load_settings(SampleSettings, {}, **env))


async def test_a_paused_redis_only_costs_what_needs_it(
    client: httpx.AsyncClient, own_servers: OwnServers, issuer: TokenIssuer
) -> None:
    redis = own_servers.redis
    reader = issuer.headers("alice", "notes:read")
    writer = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "while-paused"}
    assert (await client.get(f"{PREFIX}/notes", headers=reader)).status_code == 200
    with paused(redis):
        schema = await within_bound(client.get(f"{PREFIX}/schema/openapi.json"))
        listed = await within_bound(client.get(f"{PREFIX}/notes", headers=reader))
        created = await within_bound(
            client.post(f"{PREFIX}/notes", json={"title": "t"}, headers=writer)
        )
        for _ in range(5):  # and again: each answered, none waits for Redis
            assert (
                await within_bound(client.get(f"{PREFIX}/notes", headers=reader))
            ).status_code == 200
    assert schema.status_code == 200
    assert listed.status_code == 200
    assert created.status_code == 201


async def test_a_paused_mongodb_is_a_fast_503_and_the_schema_still_answers(
    client: httpx.AsyncClient, own_servers: OwnServers, issuer: TokenIssuer
) -> None:
    mongo = own_servers.mongo
    reader = issuer.headers("alice", "notes:read")
    writer = issuer.headers("alice", "notes:write")
    assert (await client.get(f"{PREFIX}/notes", headers=reader)).status_code == 200
    with paused(mongo):
        schema = await within_bound(client.get(f"{PREFIX}/schema/openapi.json"))
        listed = await within_bound(client.get(f"{PREFIX}/notes", headers=reader))
        created = await within_bound(
            client.post(f"{PREFIX}/notes", json={"title": "t"}, headers=writer)
        )
        keyed = await within_bound(
            client.post(
                f"{PREFIX}/notes",
                json={"title": "t"},
                headers={**writer, "Idempotency-Key": "paused"},
            )
        )
        health = await within_bound(client.get("/health"))
    assert schema.status_code == 200
    assert is_503_problem(listed), listed.text
    assert is_503_problem(created), created.text
    assert is_503_problem(keyed), keyed.text
    assert health.status_code == 503
    # Back: the same key runs now (nothing was applied under it while paused).
    retried = await within_bound(
        client.post(
            f"{PREFIX}/notes", json={"title": "t"}, headers={**writer, "Idempotency-Key": "paused"}
        )
    )
    assert retried.status_code == 201, retried.text
