"""A writer that dies after logging a version but before applying it loses nothing: the
next writer builds on the logged version, and the sweep applies it and publishes its events
(the sweep's bound on delivery delay is tested with the primitive in tests/kit/test_chain)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from bson import ObjectId

from deepiri_kit.clock import utcnow
from deepiri_kit.events import outbox_entry
from support.streams import published
from support.tasks import create
from task_service.domain import tasks as rules
from task_service.events import publish as events
from task_service.store.tasks import TaskStore

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def log_without_applying(
    store: TaskStore, mongo: Any, task: dict[str, Any], title: str
) -> None:
    """What a crashed writer leaves: version n+1 logged with its event, the task untouched."""
    doc = await mongo["tasks"].find_one({"_id": ObjectId(task["id"])})
    state = {k: v for k, v in doc.items() if k != "_id"}
    after = rules.patched(state, {"title": title}, doc["version"] + 1, utcnow())
    assert after is not None
    event = events.task_updated(task["id"], after, ["title"])
    await store.log.claim(
        task["id"],
        after["version"],
        {
            "task_id": task["id"],
            "owner": after["owner"],
            "n": after["version"],
            "action": "update",
            "changed": ["title"],
            "author": "alice",
            "reason": None,
            "at": after["updated_at"],
            "state": after,
        },
        outbox=[outbox_entry(events.STREAM, event)],
    )


async def test_sweeper_applies_a_logged_version_and_publishes_it(
    client: httpx.AsyncClient, store: TaskStore, alice: dict[str, str], mongo: Any, redis: Any
) -> None:
    task = (await client.post("/api/tasks", json={"title": "before"}, headers=alice)).json()
    await log_without_applying(store, mongo, task, "after the crash")
    url = f"/api/tasks/{task['id']}"
    assert (await client.get(url, headers=alice)).json()["version"] == 1  # not applied yet
    assert await store.log.sweep(min_age=0) == 1
    current = (await client.get(url, headers=alice)).json()
    assert (current["title"], current["version"]) == ("after the crash", 2)
    assert [e.type for e in await published(redis, "events.tasks")] == [
        "task.created",
        "task.updated",
    ]
    assert await store.log.sweep(min_age=0) == 0  # nothing left


async def test_the_next_writer_builds_on_the_logged_version(
    client: httpx.AsyncClient, store: TaskStore, alice: dict[str, str], mongo: Any, redis: Any
) -> None:
    task = (await client.post("/api/tasks", json={"title": "before"}, headers=alice)).json()
    await log_without_applying(store, mongo, task, "logged")
    url = f"/api/tasks/{task['id']}"
    # If-Match on the stale document's version is refused: the log says v2 exists.
    stale = await client.patch(url, json={"notes": "x"}, headers={**alice, "If-Match": '"v1"'})
    assert stale.status_code == 412
    response = await client.patch(url, json={"notes": "on top"}, headers=alice)
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["notes"]) == ("logged", "on top")
    assert response.json()["version"] == 3
    # The crashed writer's event is still published, by the sweeper.
    assert await store.log.sweep(min_age=0) == 1
    assert sorted(e.type for e in await published(redis, "events.tasks")) == [
        "task.created",
        "task.updated",
        "task.updated",
    ]


async def test_events_survive_a_redis_outage(
    client: httpx.AsyncClient,
    store: TaskStore,
    alice: dict[str, str],
    mongo: Any,
    redis: Any,
    redis_server: Any,
) -> None:
    task = (await client.post("/api/tasks", json={"title": "t"}, headers=alice)).json()
    redis_server.stop()
    try:
        done = await client.post(f"/api/tasks/{task['id']}/complete", headers=alice)
        assert done.status_code == 200  # the completion is logged; its event waits
    finally:
        redis_server.start()
    assert len(await store.log.undelivered()) == 1
    assert await store.log.sweep(min_age=0) == 1
    [event] = await published(redis, "events.tasks", "task.completed")
    assert event.data["task_id"] == task["id"]


async def test_fifty_concurrent_completions_leave_no_undelivered_event(
    client: httpx.AsyncClient, store: TaskStore, alice: dict[str, str], mongo: Any, redis: Any
) -> None:
    tasks = [await create(client, alice, title=f"t{i}") for i in range(50)]
    done = await asyncio.gather(
        *(client.post(f"/api/tasks/{t['id']}/complete", headers=alice) for t in tasks)
    )
    assert {r.status_code for r in done} == {200}
    log = store.log
    # Whatever the inline path could not deliver, one sweep pass does; then nothing that
    # still holds an outbox is mistaken for undelivered, and compaction clears the rest.
    await log.sweep(min_age=0)
    assert await log.undelivered() == []
    await log.compact()
    assert await mongo["task_versions"].count_documents({"_outbox": {"$exists": True}}) == 0
    completed = await published(redis, "events.tasks", "task.completed")
    # Every completion published (at least once; consumers deduplicate by event id).
    assert {e.data["task_id"] for e in completed} == {t["id"] for t in tasks}
    assert len({e.id for e in completed}) == 50
