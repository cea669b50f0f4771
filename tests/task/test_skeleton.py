"""task-service on the kit: a real route writing to and reading from FerretDB, with its event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from deepiri_kit.events import Envelope
from deepiri_kit.settings import load_settings
from support.tokens import TokenIssuer
from task_service.app import create_app
from task_service.settings import TaskSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
async def client(service_env: dict[str, Any]) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(load_settings(TaskSettings, {}, **service_env))) as c:
        yield c


async def test_create_then_read_and_event_published(
    client: AsyncTestClient[Any], issuer: TokenIssuer, redis: Any
) -> None:
    headers = issuer.headers("alice", "tasks:read tasks:write")
    created = await client.post(
        "/api/tasks", json={"title": "Write the kit", "difficulty": "hard"}, headers=headers
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["status"] == "open"
    assert task["version"] == 1
    read = await client.get(f"/api/tasks/{task['id']}", headers=headers)
    assert read.json() == task
    [(_, fields)] = await redis.xrange("events.tasks")
    event = Envelope.decode(fields["envelope"])
    assert event.type == "task.created"
    assert event.user_id == "alice"
    assert event.data["task_id"] == task["id"]


async def test_health_livez_metrics(client: AsyncTestClient[Any]) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/livez")).status_code == 200
    assert "http_server_requests_total" in (await client.get("/metrics")).text


async def test_operator_body_is_rejected(
    client: AsyncTestClient[Any], issuer: TokenIssuer, mongo: Any
) -> None:
    headers = issuer.headers("alice", "tasks:write")
    response = await client.post(
        "/api/tasks", json={"title": "x", "$set": {"owner": "bob"}}, headers=headers
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
