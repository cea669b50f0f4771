"""The task API against real FerretDB and Redis: CRUD, ETags, lists, bad input, auth."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.streams import published
from support.tasks import create
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Client = httpx.AsyncClient


async def counts(mongo: Any) -> tuple[int, int]:
    """(task documents, version documents) in the service's database."""
    return (
        await mongo["tasks"].count_documents({}),
        await mongo["task_versions"].count_documents({}),
    )


async def test_create_returns_the_task_with_an_etag_and_announces_it(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    response = await client.post(
        "/api/tasks",
        json={
            "title": "Ship it",
            "notes": "all of it",
            "difficulty": "hard",
            "priority": "urgent",
            "tags": ["work", "work", "q1"],
            "checklist": [{"text": "tests"}, {"text": "docs", "done": True}],
            "due_at": "2026-05-01T09:30:00.123456+02:00",
            "estimated_minutes": 90,
            "skill_ids": ["coding.python"],
        },
        headers=alice,
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert response.headers["etag"] == '"v1"'
    assert task["tags"] == ["work", "q1"]
    assert task["due_at"] == "2026-05-01T07:30:00.123000Z"  # UTC, milliseconds (as stored)
    assert [i["done"] for i in task["checklist"]] == [False, True]
    read = await client.get(f"/api/tasks/{task['id']}", headers=alice)
    assert read.json() == task
    assert read.headers["etag"] == '"v1"'
    [event] = await published(redis, "events.tasks")
    assert (event.type, event.user_id, event.data["task_id"]) == (
        "task.created",
        "alice",
        task["id"],
    )


async def test_patch_with_if_match_and_a_stale_one_changes_nothing(
    client: Client, alice: dict[str, str], redis: Any, mongo: Any
) -> None:
    task = await create(client, alice)
    url = f"/api/tasks/{task['id']}"
    ok = await client.patch(
        url, json={"title": "Renamed", "reason": "clearer"}, headers={**alice, "If-Match": '"v1"'}
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] == '"v2"'
    assert ok.json()["title"] == "Renamed"
    before = await counts(mongo)
    stale = await client.patch(url, json={"title": "Lost"}, headers={**alice, "If-Match": '"v1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["current_version"] == 2
    garbage = await client.delete(url, headers={**alice, "If-Match": "nonsense"})
    assert garbage.status_code == 412
    stale_delete = await client.delete(url, headers={**alice, "If-Match": '"v1"'})
    assert stale_delete.status_code == 412
    assert await counts(mongo) == before
    current = (await client.get(url, headers=alice)).json()
    assert (current["title"], current["version"]) == ("Renamed", 2)
    assert [e.type for e in await published(redis, "events.tasks")] == [
        "task.created",
        "task.updated",
    ]
    updated = (await published(redis, "events.tasks", "task.updated"))[0]
    assert updated.data["changed"] == ["title"]


async def test_patch_without_change_writes_no_version(
    client: Client, alice: dict[str, str]
) -> None:
    task = await create(client, alice, title="Same")
    response = await client.patch(f"/api/tasks/{task['id']}", json={"title": "Same"}, headers=alice)
    assert response.status_code == 200
    assert response.json()["version"] == 1


async def test_patch_clears_nullable_fields_and_keeps_the_kind(
    client: Client, alice: dict[str, str]
) -> None:
    task = await create(client, alice, due_at="2026-05-01T00:00:00Z", estimated_minutes=5)
    url = f"/api/tasks/{task['id']}"
    cleared = await client.patch(
        url, json={"due_at": None, "estimated_minutes": None}, headers=alice
    )
    assert cleared.status_code == 200
    assert (cleared.json()["due_at"], cleared.json()["estimated_minutes"]) == (None, None)
    assert (await client.patch(url, json={"kind": "daily"}, headers=alice)).status_code == 400


async def test_other_users_tasks_are_not_found(
    client: Client, alice: dict[str, str], bob: dict[str, str]
) -> None:
    task = await create(client, alice)
    base = f"/api/tasks/{task['id']}"
    attempts = [
        client.get(base, headers=bob),
        client.patch(base, json={"title": "mine"}, headers=bob),
        client.delete(base, headers=bob),
        client.post(f"{base}/complete", headers=bob),
        client.post(f"{base}/reopen", headers=bob),
        client.get(f"{base}/versions", headers=bob),
        client.get(f"{base}/versions/1", headers=bob),
        client.post(f"{base}/versions/1/restore", headers=bob),
        client.get(f"{base}/dependencies", headers=bob),
        client.post(f"{base}/checklist", json={"text": "x"}, headers=bob),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404, response.text
    assert (await client.get(base, headers=alice)).json()["version"] == 1
    listed = (await client.get("/api/tasks", headers=bob)).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("task_id", "status"),
    [("0" * 24, 404), ("A" * 24, 404), ("nope", 400), ("Z" * 24, 400), ("a" * 300, 400)],
)
async def test_unknown_ids_are_404_and_malformed_ids_400(
    client: Client, alice: dict[str, str], task_id: str, status: int
) -> None:
    for response in [
        await client.get(f"/api/tasks/{task_id}", headers=alice),
        await client.post(f"/api/tasks/{task_id}/complete", headers=alice),
    ]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


BAD_BODIES = [
    {"title": "x", "owner": "bob"},
    {"title": "x", "status": "completed"},
    {"title": "x", "version": 7},
    {"title": "x", "$set": {"owner": "bob"}},
    {"title": "x", "notes.x": "dotted"},
    {"title": {"$gt": ""}},
    {"title": ""},
    {"title": "x" * 201},
    {"title": "x", "notes": "n" * 10_001},
    {"title": "x", "tags": ["t"] * 21},
    {"title": "x", "tags": ["$where"]},
    {"title": "x", "checklist": [{"text": "i"}] * 101},
    {"title": "x", "checklist": [{"text": "i", "$inc": 1}]},
    {"title": "x", "due_at": "2026-02-30T00:00:00Z"},
    {"title": "x", "due_at": "2026-03-01T00:00:00"},  # no time zone
    {"title": "x", "due_at": "tomorrow"},
    {"title": "x", "kind": "reward"},
    {"title": "x", "kind": "daily", "schedule": {"type": "weekly", "days": ["someday"]}},
    {"title": "x", "kind": "daily", "schedule": {"type": "weekly", "days": []}},
    {
        "title": "x",
        "kind": "daily",
        "schedule": {"type": "every", "every_days": 0, "start_date": "2026-01-01"},
    },
    {"title": "x", "kind": "daily", "schedule": {"type": "hourly"}},
    {"title": "x", "schedule": {"type": "weekly", "days": ["mon"]}},  # a todo has no schedule
    {"title": "x", "kind": "habit", "due_at": "2026-03-01T00:00:00Z"},
    {"title": "x", "timezone": "Mars/Olympus"},
    {"title": "x", "timezone": "../../etc/passwd"},
    {"title": "x", "estimated_minutes": -5},
    {"title": "x", "estimated_minutes": 10**9},
    {"title": "x", "skill_ids": ["a b"]},
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_input_is_a_problem_document_and_writes_nothing(
    client: Client, alice: dict[str, str], redis: Any, body: dict[str, Any], mongo: Any
) -> None:
    response = await client.post("/api/tasks", json=body, headers=alice)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await counts(mongo) == (0, 0)
    assert await published(redis, "events.tasks") == []


async def test_bad_patches_write_nothing(client: Client, alice: dict[str, str], mongo: Any) -> None:
    task = await create(client, alice)
    url = f"/api/tasks/{task['id']}"
    for body in [
        {"owner": "bob"},
        {"$set": {"title": "x"}},
        {"title": None},
        {"schedule": {"type": "weekly", "days": ["mon"]}},
        {"checklist": [{"id": "0123456789ab", "text": "unknown id"}]},
        {"version": 9},
    ]:
        response = await client.patch(url, json=body, headers=alice)
        assert response.status_code in (400, 422), (body, response.text)
    assert await counts(mongo) == (1, 1)


async def test_auth_is_required_and_scopes_are_checked(
    client: Client, issuer: TokenIssuer, alice: dict[str, str]
) -> None:
    assert (await client.get("/api/tasks")).status_code == 401
    assert (
        await client.get("/api/tasks", headers={"Authorization": "Bearer x.y.z"})
    ).status_code == 401
    reader = issuer.headers("alice", "tasks:read")
    writer = issuer.headers("alice", "tasks:write")
    assert (await client.post("/api/tasks", json={"title": "x"}, headers=reader)).status_code == 403
    assert (await client.get("/api/tasks", headers=writer)).status_code == 403
    task = await create(client, alice)
    assert (
        await client.post(f"/api/tasks/{task['id']}/complete", headers=reader)
    ).status_code == 403
    assert (await client.get("/api/tasks/graph", headers=writer)).status_code == 403


async def test_delete_is_soft_and_a_restore_brings_the_task_back(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    task = await create(client, alice, title="Keep me")
    url = f"/api/tasks/{task['id']}"
    deleted = await client.delete(url, headers={**alice, "If-Match": '"v1"'})
    assert deleted.status_code == 204
    assert deleted.headers["etag"] == '"v2"'
    assert (await client.get(url, headers=alice)).status_code == 404
    assert (await client.patch(url, json={"title": "x"}, headers=alice)).status_code == 404
    assert (await client.get("/api/tasks", headers=alice)).json()["items"] == []
    trash = (await client.get("/api/tasks?status=deleted", headers=alice)).json()["items"]
    assert [t["id"] for t in trash] == [task["id"]]
    history = (await client.get(f"{url}/versions", headers=alice)).json()["items"]
    assert [v["action"] for v in history] == ["create", "delete"]
    restored = await client.post(f"{url}/versions/1/restore", headers=alice)
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 3
    assert restored.json()["deleted_at"] is None
    assert (await client.get(url, headers=alice)).json()["title"] == "Keep me"
    types = [e.type for e in await published(redis, "events.tasks")]
    assert types == ["task.created", "task.deleted", "task.updated"]


async def test_versions_diff_and_restore(client: Client, alice: dict[str, str]) -> None:
    task = await create(client, alice, title="v1", checklist=[{"text": "a"}, {"text": "b"}])
    url = f"/api/tasks/{task['id']}"
    a, b = task["checklist"]
    await client.patch(url, json={"title": "v2", "tags": ["x"], "reason": "tagging"}, headers=alice)
    await client.patch(f"{url}/checklist/{a['id']}", json={"done": True}, headers=alice)
    await client.delete(f"{url}/checklist/{b['id']}", headers=alice)
    added = await client.post(f"{url}/checklist", json={"text": "c"}, headers=alice)
    assert added.status_code == 201
    c = added.json()["checklist"][-1]

    page = (await client.get(f"{url}/versions?limit=2", headers=alice)).json()
    assert [v["n"] for v in page["items"]] == [1, 2]
    rest = (await client.get(f"{url}/versions?after={page['next_after']}", headers=alice)).json()
    assert [v["n"] for v in rest["items"]] == [3, 4, 5]
    assert rest["next_after"] is None
    v2 = (await client.get(f"{url}/versions/2", headers=alice)).json()
    assert (v2["author"], v2["reason"], v2["changed"]) == ("alice", "tagging", ["title", "tags"])
    assert v2["snapshot"]["title"] == "v2"
    assert (await client.get(f"{url}/versions/99", headers=alice)).status_code == 404

    diff = (await client.get(f"{url}/diff?from=1&to=5", headers=alice)).json()
    assert diff["changed"] == {"title": {"from": "v1", "to": "v2"}}
    assert diff["added"] == {"tags": ["x"]}
    assert [i["id"] for i in diff["checklist"]["added"]] == [c["id"]]
    assert [i["id"] for i in diff["checklist"]["removed"]] == [b["id"]]
    assert diff["checklist"]["changed"] == [
        {"id": a["id"], "changes": {"done": {"from": False, "to": True}}}
    ]
    assert (await client.get(f"{url}/diff?from=1", headers=alice)).status_code == 400
    assert (await client.get(f"{url}/diff?from=1&to=77", headers=alice)).status_code == 404

    restored = await client.post(
        f"{url}/versions/1/restore", json={"reason": "undo all"}, headers=alice
    )
    assert restored.json()["title"] == "v1"
    assert [i["text"] for i in restored.json()["checklist"]] == ["a", "b"]
    v6 = (await client.get(f"{url}/versions/6", headers=alice)).json()
    assert (v6["action"], v6["reason"]) == ("restore", "undo all")
    # Restoring what is already there writes nothing new.
    again = await client.post(f"{url}/versions/6/restore", headers=alice)
    assert again.json()["version"] == 6


async def test_a_dailys_schedule_and_time_zone_can_change(
    client: Client, alice: dict[str, str]
) -> None:
    task = await create(
        client,
        alice,
        kind="daily",
        schedule={"type": "every", "every_days": 2, "start_date": "2026-01-01"},
        timezone="Europe/Paris",
    )
    assert task["schedule"] == {
        "type": "every",
        "days": None,
        "every_days": 2,
        "start_date": "2026-01-01",
    }
    url = f"/api/tasks/{task['id']}"
    changed = await client.patch(
        url,
        json={"schedule": {"type": "weekly", "days": ["fri", "mon"]}, "timezone": "Asia/Tokyo"},
        headers=alice,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["schedule"]["days"] == ["mon", "fri"]
    assert changed.json()["timezone"] == "Asia/Tokyo"
    assert changed.json()["current_period"] is not None
    refused = await client.patch(url, json={"schedule": None}, headers=alice)
    assert refused.status_code == 422
    assert (
        await client.patch(url, json={"timezone": "Nowhere/Town"}, headers=alice)
    ).status_code == 422
