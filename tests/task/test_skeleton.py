"""task-service on the kit: a real route writing to and reading from FerretDB, with its event."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.streams import published
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_create_then_read_and_event_published(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
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
    [event] = await published(redis, "events.tasks")
    assert event.type == "task.created"
    assert event.user_id == "alice"
    assert event.data["task_id"] == task["id"]


async def test_health_livez_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/livez")).status_code == 200
    assert "http_server_requests_total" in (await client.get("/metrics")).text


async def test_operator_body_is_rejected(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    headers = issuer.headers("alice", "tasks:write")
    response = await client.post(
        "/api/tasks", json={"title": "x", "$set": {"owner": "bob"}}, headers=headers
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
