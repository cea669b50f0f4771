"""task-service as real processes (two uvicorn workers) trusting the real user-service:
concurrent completions from separate processes still yield exactly one ``task.completed``,
and the event carries the contract."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from support.accounts import Accounts
from support.processes import ServiceProcesses
from support.streams import published

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.anyio]


async def test_concurrent_completes_across_workers_publish_one_event(
    services: ServiceProcesses, accounts: Accounts, redis: Any
) -> None:
    task_service = services("task-service", workers=2)
    alice = accounts.person("Alice")
    headers = alice.headers()
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=task_service.url, limits=limits, timeout=30) as client:
        tasks = []
        for i in range(3):
            created = await client.post(
                "/api/tasks",
                json={
                    "title": f"race {i}",
                    "difficulty": "hard",
                    "priority": "urgent",
                    "due_at": "2999-01-01T00:00:00Z",
                    "estimated_minutes": 45,
                    "skill_ids": ["coding"],
                    "tags": ["release"],
                },
                headers=headers,
            )
            assert created.status_code == 201, created.text
            tasks.append(created.json())
        # Fresh connections per request spread the calls over both worker processes.
        results = await asyncio.gather(
            *(
                client.post(
                    f"/api/tasks/{task['id']}/complete",
                    json={"actual_minutes": 50},
                    headers={**headers, "Connection": "close"},
                )
                for task in tasks
                for _ in range(10)
            )
        )
        assert {r.status_code for r in results} == {200}, [r.text for r in results]
        for task in tasks:
            read = await client.get(f"/api/tasks/{task['id']}", headers=headers)
            assert (read.json()["status"], read.json()["version"]) == ("completed", 2)

    events = await published(redis, "events.tasks", "task.completed")
    assert sorted(e.data["task_id"] for e in events) == sorted(t["id"] for t in tasks)
    event = events[0]
    assert event.user_id == alice.id
    assert event.source == "task-service"
    assert set(event.data) == {
        "task_id",
        "completion_id",
        "kind",
        "difficulty",
        "priority",
        "estimated_minutes",
        "actual_minutes",
        "due_at",
        "completed_at",
        "on_time",
        "streak",
        "habit_direction",
        "skill_ids",
        "tags",
        "title",
    }
    assert (event.data["kind"], event.data["difficulty"], event.data["priority"]) == (
        "todo",
        "hard",
        "urgent",
    )
    assert (event.data["estimated_minutes"], event.data["actual_minutes"]) == (45, 50)
    assert event.data["on_time"] is True
    assert event.data["due_at"] == "2999-01-01T00:00:00Z"
    assert event.data["completion_id"] == f"{event.data['task_id']}:v2"
    assert event.traceparent is not None


async def test_openapi_lists_the_routes(service_process: ServiceProcesses) -> None:
    task_service = service_process("task-service")
    async with httpx.AsyncClient(base_url=task_service.url) as client:
        schema = (await client.get("/api/tasks/schema/openapi.json")).json()
    paths = set(schema["paths"])
    for path in [
        "/api/tasks",
        "/api/tasks/graph",
        "/api/tasks/{task_id}",
        "/api/tasks/{task_id}/complete",
        "/api/tasks/{task_id}/reopen",
        "/api/tasks/{task_id}/versions",
        "/api/tasks/{task_id}/versions/{n}",
        "/api/tasks/{task_id}/versions/{n}/restore",
        "/api/tasks/{task_id}/diff",
        "/api/tasks/{task_id}/dependencies",
        "/api/tasks/{task_id}/dependencies/{other}",
        "/api/tasks/{task_id}/checklist",
        "/api/tasks/{task_id}/checklist/{item_id}",
    ]:
        assert path in paths, sorted(paths)
