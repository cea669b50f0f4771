"""Completion against real FerretDB and Redis: exactly one event per real completion."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from support.streams import published
from support.tasks import create

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Client = httpx.AsyncClient


async def test_concurrent_completes_publish_exactly_one_event(
    client: Client, alice: dict[str, str], redis: Any, mongo: Any
) -> None:
    task = await create(
        client, alice, difficulty="medium", estimated_minutes=20, skill_ids=["focus"]
    )
    url = f"/api/tasks/{task['id']}/complete"
    responses = await asyncio.gather(
        *(client.post(url, json={"actual_minutes": 15}, headers=alice) for _ in range(12))
    )
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert {r.json()["status"] for r in responses} == {"completed"}
    assert {r.json()["version"] for r in responses} == {2}
    [event] = await published(redis, "events.tasks", "task.completed")
    assert event.user_id == "alice"
    assert event.data["completion_id"] == f"{task['id']}:v2"
    assert event.data["kind"] == "todo"
    assert event.data["difficulty"] == "medium"
    assert event.data["estimated_minutes"] == 20
    assert event.data["actual_minutes"] == 15
    assert event.data["on_time"] is None
    assert event.data["skill_ids"] == ["focus"]
    assert await mongo["task_versions"].count_documents({"task_id": task["id"]}) == 2
    # Retrying later still announces nothing new.
    again = await client.post(url, headers=alice)
    assert again.status_code == 200
    assert len(await published(redis, "events.tasks", "task.completed")) == 1


async def test_concurrent_patches_all_land_in_order(
    client: Client, alice: dict[str, str], mongo: Any
) -> None:
    """Without atomic conditional updates on the test server, the version log still keeps
    every concurrent change and the task document ends at the newest version."""
    task = await create(client, alice, checklist=[])
    url = f"/api/tasks/{task['id']}/checklist"
    conflicts_before = conflicts()
    responses = await asyncio.gather(
        *(client.post(url, json={"text": f"item {i}"}, headers=alice) for i in range(10))
    )
    assert {r.status_code for r in responses} == {201}
    final = (await client.get(f"/api/tasks/{task['id']}", headers=alice)).json()
    assert final["version"] == 11
    assert sorted(i["text"] for i in final["checklist"]) == sorted(f"item {i}" for i in range(10))
    logged = await mongo["task_versions"].find({"task_id": task["id"]}).to_list()
    assert sorted(v["n"] for v in logged) == list(range(1, 12))
    assert conflicts() > conflicts_before  # the writers really did race for slots


def conflicts() -> float:
    return REGISTRY.get_sample_value("deepiri_task_version_conflicts_total") or 0.0


async def test_concurrent_if_match_writers_one_wins_the_rest_get_412(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    task = await create(client, alice)
    url = f"/api/tasks/{task['id']}"
    responses = await asyncio.gather(
        *(
            client.patch(url, json={"title": f"t{i}"}, headers={**alice, "If-Match": '"v1"'})
            for i in range(8)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 7
    winner = next(r.json()["title"] for r in responses if r.status_code == 200)
    final = (await client.get(url, headers=alice)).json()
    assert (final["title"], final["version"]) == (winner, 2)
    assert len(await published(redis, "events.tasks", "task.updated")) == 1


async def test_reopen_then_complete_again_is_a_new_completion(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    task = await create(client, alice, due_at="2999-01-01T00:00:00Z")
    base = f"/api/tasks/{task['id']}"
    assert (await client.post(f"{base}/complete", headers=alice)).status_code == 200
    reopened = await client.post(f"{base}/reopen", headers=alice)
    assert reopened.json()["status"] == "open"
    assert (await client.post(f"{base}/reopen", headers=alice)).json()["version"] == 3  # no-op
    assert (await client.post(f"{base}/complete", headers=alice)).json()["version"] == 4
    completions = await published(redis, "events.tasks", "task.completed")
    assert [e.data["completion_id"] for e in completions] == [
        f"{task['id']}:v2",
        f"{task['id']}:v4",
    ]
    assert len({e.id for e in completions}) == 2
    assert all(e.data["on_time"] is True for e in completions)
    [reopen_event] = await published(redis, "events.tasks", "task.reopened")
    assert reopen_event.data["completion_id"] == f"{task['id']}:v2"


async def test_daily_completes_once_per_period_with_streak(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    # The scenario happens within one UTC day: one that midnight interrupted (the completes
    # could fall on two days) is played again, with a new task, on the new day.
    for _ in range(2):
        before = datetime.now(UTC).date().isoformat()
        await a_daily_completed_five_times_at_once_then_reopened(client, alice, redis)
        if datetime.now(UTC).date().isoformat() == before:
            return
    raise AssertionError("two midnights in one test")


async def a_daily_completed_five_times_at_once_then_reopened(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    task = await create(client, alice, kind="daily", difficulty="easy", timezone="UTC")
    assert task["schedule"]["days"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert task["done_for_period"] is False
    url = f"/api/tasks/{task['id']}/complete"
    before = datetime.now(UTC).date().isoformat()
    results = await asyncio.gather(*(client.post(url, headers=alice) for _ in range(5)))
    reopened = await client.post(f"/api/tasks/{task['id']}/reopen", headers=alice)
    if datetime.now(UTC).date().isoformat() != before:
        return  # midnight came in between: the caller plays it again
    assert {r.status_code for r in results} == {200}
    done = results[0].json()
    assert done["done_for_period"] is True
    assert done["current_period"] == before
    assert done["streak"]["current"] == 1
    events = await published(redis, "events.tasks", "task.completed")
    [event] = [e for e in events if e.data["task_id"] == task["id"]]
    assert event.data["completion_id"] == f"{task['id']}:{before}"
    assert event.data["streak"] == {"current": 1, "best": 1}
    assert event.data["kind"] == "daily"
    assert event.data["on_time"] is True
    assert reopened.json()["done_for_period"] is False
    assert reopened.json()["streak"]["current"] == 0


async def test_habit_taps_each_count_and_idempotency_keys_absorb_retries(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    task = await create(client, alice, kind="habit")
    url = f"/api/tasks/{task['id']}/complete"
    up = await client.post(
        url, json={"direction": "up"}, headers={**alice, "Idempotency-Key": "k1"}
    )
    retry = await client.post(
        url, json={"direction": "up"}, headers={**alice, "Idempotency-Key": "k1"}
    )
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json() == up.json()
    await client.post(url, json={"direction": "up"}, headers=alice)
    down = await client.post(url, json={"direction": "down"}, headers=alice)
    assert down.json()["habit"]["up"] == 2
    assert down.json()["habit"]["down"] == 1
    taps = await published(redis, "events.tasks", "task.completed")
    assert [e.data["habit_direction"] for e in taps] == ["up", "up", "down"]
    assert [e.data["streak"]["current"] for e in taps] == [1, 2, 1]
    assert len({e.data["completion_id"] for e in taps}) == 3
    assert (await client.post(f"/api/tasks/{task['id']}/reopen", headers=alice)).status_code == 409


async def test_a_deleted_task_cannot_be_completed(client: Client, alice: dict[str, str]) -> None:
    task = await create(client, alice)
    await client.delete(f"/api/tasks/{task['id']}", headers=alice)
    assert (
        await client.post(f"/api/tasks/{task['id']}/complete", headers=alice)
    ).status_code == 404


async def test_complete_rejects_bad_bodies(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    task = await create(client, alice)
    url = f"/api/tasks/{task['id']}/complete"
    for body in [{"actual_minutes": -1}, {"direction": "sideways"}, {"completed_at": "x"}]:
        assert (await client.post(url, json=body, headers=alice)).status_code == 400
    assert await published(redis, "events.tasks", "task.completed") == []
