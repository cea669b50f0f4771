"""Readiness follows the real dependencies: stop a server mid-test and /health names it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from deepiri_kit import InfluxSettings, create_app, load_settings
from infra import Server
from support.apps import app_client
from support.sample_app import SampleSettings
from support.servers import OwnServers

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.slow]


@dataclass(frozen=True, kw_only=True)
class FullSettings(SampleSettings, InfluxSettings):
    """A service that uses all three datastores."""


@pytest.fixture
def servers(own_servers: OwnServers) -> dict[str, Server]:
    """Servers of this test's own, by the name readiness gives them."""
    return {
        "redis": own_servers.redis,
        "mongodb": own_servers.mongo,
        "influxdb": own_servers.influx,
    }


@pytest.fixture
def app(servers: dict[str, Server]) -> Litestar:
    env: dict[str, str] = {}
    for server in servers.values():
        env.update(server.env())
    settings = load_settings(FullSettings, env, health_timeout_seconds=0.5)
    return create_app(settings, prefix="/api/sample", title="full", route_handlers=[])


async def wait_for_status(
    client: httpx.AsyncClient, status: int, timeout: float = 30
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
    client: httpx.AsyncClient, servers: dict[str, Server], name: str
) -> None:
    healthy = await wait_for_status(client, 200)
    assert healthy == {"status": "ok", "checks": healthy["checks"]}
    assert set(healthy["checks"]) == {"redis", "mongodb", "influxdb"}

    servers[name].stop()
    started = time.monotonic()
    down = await wait_for_status(client, 503)
    assert down["failing"] == [name]
    assert down["checks"][name]["status"] == "down"
    assert down["checks"][name]["error"]
    assert time.monotonic() - started < 5  # short timeout, checks run concurrently

    # Liveness does not depend on dependencies: restarting the pod would not help.
    assert (await client.get("/livez")).status_code == 200

    servers[name].start()
    recovered = await wait_for_status(client, 200)
    assert recovered["status"] == "ok"


async def test_an_optional_dependency_down_is_degraded_not_unready(
    servers: dict[str, Server],
) -> None:
    """``influxdb_required=False`` (user-service: only the activity time-series needs it, and
    its events wait): readiness stays 200 but names InfluxDB as ``degraded``."""
    env: dict[str, str] = {}
    for server in servers.values():
        env.update(server.env())
    settings = load_settings(FullSettings, env, health_timeout_seconds=0.5, influxdb_required=False)
    app = create_app(settings, prefix="/api/sample", title="full", route_handlers=[])
    async with app_client(app) as client:
        assert (await wait_for_status(client, 200))["status"] == "ok"
        servers["influxdb"].stop()
        deadline = time.monotonic() + 30
        while (body := (await client.get("/health")).json())["status"] != "degraded":
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.2)
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json()["degraded"] == ["influxdb"]
        assert "failing" not in response.json()
        servers["influxdb"].start()
        assert (await wait_for_status(client, 200))["status"] == "ok"
        # A required dependency down is still 503, whatever the optional ones say.
        servers["redis"].stop()
        assert (await wait_for_status(client, 503))["failing"] == ["redis"]
