"""A service's app called in-process: the one way tests talk to an app without a process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar


@asynccontextmanager
async def app_client(app: Litestar, *, asgi: Any = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of ``app`` with its lifespan (stores, consumers, workers) running.

    Requests run in the test's own event loop, so concurrent requests really interleave (the
    Litestar test client's portal runs them one after another) and the test may use the
    app's state and the harness's asyncio clients alongside. ``asgi`` wraps the app (to
    observe what it sends) while ``app``'s lifespan runs.
    """
    transport = httpx.ASGITransport(app=asgi or app)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client
