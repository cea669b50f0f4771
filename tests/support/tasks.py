"""Calling task-service's API in tests."""

from __future__ import annotations

from typing import Any

RW = "tasks:read tasks:write"


async def create(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Create a task through the API (title defaults to "A task")."""
    response = await client.post("/api/tasks", json={"title": "A task", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task
