"""Fixtures for task-service tests: the app on the harness servers, callers with tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from deepiri_kit.events import Envelope
from deepiri_kit.settings import load_settings
from support.tokens import TokenIssuer
from task_service.app import create_app
from task_service.events.publish import STREAM
from task_service.settings import TaskSettings
from task_service.store.tasks import TaskStore

RW = "tasks:read tasks:write"


@pytest.fixture
async def client(service_env: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The app in the test's own event loop, so concurrent requests really interleave (the
    Litestar test client's portal runs them one after another) and tests may use its store."""
    app = create_app(load_settings(TaskSettings, {}, **service_env))
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tasks") as c,
    ):
        c.app = app  # type: ignore[attr-defined]
        yield c


def store_of(client: httpx.AsyncClient) -> TaskStore:
    store: TaskStore = client.app.state.store  # type: ignore[attr-defined]
    return store


@pytest.fixture
def alice(issuer: TokenIssuer) -> dict[str, str]:
    return issuer.headers("alice", RW)


@pytest.fixture
def bob(issuer: TokenIssuer) -> dict[str, str]:
    return issuer.headers("bob", RW)


async def published(redis: Any, event_type: str | None = None) -> list[Envelope]:
    events = [Envelope.decode(fields["envelope"]) for _, fields in await redis.xrange(STREAM)]
    return [e for e in events if event_type is None or e.type == event_type]


async def create(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Create a task through the API (title defaults to "A task")."""
    response = await client.post("/api/tasks", json={"title": "A task", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task
