"""The app factory's hooks for long-lived connections: ``mounts`` (exact paths served by
another ASGI app, before routing) and ``Wiring.drain`` (run on SIGTERM before the server's own
handling, readiness 503 while it runs)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from deepiri_kit import Platform, ServiceSettings, Wiring, create_app, load_settings
from support.apps import app_client

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@dataclass(frozen=True, kw_only=True)
class Bare(ServiceSettings):
    service_name: str = "bare"
    port: int = 5999


async def mounted(scope: Any, receive: Any, send: Any) -> None:
    body = f"mounted {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_mounts_take_exact_paths_before_routing() -> None:
    app = create_app(
        load_settings(Bare, {}), prefix="/p", title="t", route_handlers=[], mounts={"/p/": mounted}
    )
    async with app_client(app) as client:
        assert (await client.get("/p/")).text == "mounted /p/"
        assert (await client.get("/p/other")).status_code == 404  # routing as usual
        assert (await client.get("/livez")).status_code == 200


async def test_sigterm_runs_the_drain_first_then_hands_the_signal_on() -> None:
    handed_on: list[int] = []
    drained = asyncio.Event()
    release = asyncio.Event()

    async def drain() -> None:
        drained.set()
        await release.wait()

    @asynccontextmanager
    async def setup(_: Platform) -> AsyncIterator[Wiring]:
        yield Wiring(drain=drain, drain_seconds=5)

    original = signal.signal(signal.SIGTERM, lambda signum, _: handed_on.append(signum))
    try:
        app = create_app(
            load_settings(Bare, {}), prefix="/p", title="t", route_handlers=[], setup=setup
        )
        async with app_client(app) as client:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(drained.wait(), 5)
            assert handed_on == [], "the server's handler waits for the drain"
            health = await client.get("/health")
            assert (health.status_code, health.json()) == (503, {"status": "draining"})
            release.set()
            for _ in range(100):
                if handed_on:
                    break
                await asyncio.sleep(0.02)
            assert handed_on == [signal.SIGTERM]
        # Once the app stopped, SIGTERM is the previous handler's again.
        assert signal.getsignal(signal.SIGTERM) is not None
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert handed_on == [signal.SIGTERM, signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, original)
