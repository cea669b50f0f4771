"""Readiness follows the real dependencies: stop a server mid-test and /health names it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from deepiri_kit import InfluxSettings, create_app, load_settings
from infra import FerretDBServer, InfluxServer, RedisServer, Server
from kit.sample_app import SampleSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.slow]


@dataclass(frozen=True, kw_only=True)
class FullSettings(SampleSettings, InfluxSettings):
    """A service that uses all three datastores."""


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[dict[str, Server]]:
    """Servers of this test's own, so stopping them disturbs nobody else."""
    servers: dict[str, Server] = {
        "redis": RedisServer(tmp_path),
        "mongodb": FerretDBServer(tmp_path),
        "influxdb": InfluxServer(tmp_path),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
async def client(own_servers: dict[str, Any]) -> AsyncIterator[AsyncTestClient[Any]]:
    env: dict[str, str] = {}
    for server in own_servers.values():
        env.update(server.env())
    settings = load_settings(FullSettings, env, health_timeout_seconds=0.5)
    app = create_app(settings, prefix="/api/sample", title="full", route_handlers=[])
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def wait_for_status(
    client: AsyncTestClient[Any], status: int, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get("/health")
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            body: dict[str, Any] = response.json()
            return body
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("name", ["redis", "mongodb", "influxdb"])
async def test_readiness_names_a_stopped_server_and_recovers(
    client: AsyncTestClient[Any], own_servers: dict[str, Server], name: str
) -> None:
    healthy = await wait_for_status(client, 200)
    assert healthy == {"status": "ok", "checks": healthy["checks"]}
    assert set(healthy["checks"]) == {"redis", "mongodb", "influxdb"}

    own_servers[name].stop()
    started = time.monotonic()
    down = await wait_for_status(client, 503)
    assert down["failing"] == [name]
    assert down["checks"][name]["status"] == "down"
    assert down["checks"][name]["error"]
    assert time.monotonic() - started < 5  # short timeout, checks run concurrently

    # Liveness does not depend on dependencies: restarting the pod would not help.
    assert (await client.get("/livez")).status_code == 200

    own_servers[name].start()
    recovered = await wait_for_status(client, 200)
    assert recovered["status"] == "ok"
