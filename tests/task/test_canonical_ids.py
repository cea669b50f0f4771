"""Ids are canonical from the edge inwards: a task id (or checklist item id) spelled in upper
or mixed case names the same task on every route, and whatever is built from it — events,
versions, edges, responses — carries the one lower-case spelling."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.streams import published
from support.tasks import create

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Client = httpx.AsyncClient


def other_spellings(ident: str) -> list[str]:
    return [ident.upper(), "".join(c.upper() if i % 2 else c for i, c in enumerate(ident))]


async def test_every_route_treats_every_spelling_as_the_same_task(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    task = await create(client, alice, checklist=[{"text": "a"}])
    other = await create(client, alice, title="blocker")
    tid, item = task["id"], task["checklist"][0]["id"]
    up, mixed = other_spellings(tid)
    item_up = item.upper()

    def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, (response.request.url, response.text)
        return response.json() if response.content else {}

    assert ok(await client.get(f"/api/tasks/{up}", headers=alice))["id"] == tid
    ok(await client.patch(f"/api/tasks/{mixed}", json={"title": "B"}, headers=alice))
    ok(
        await client.patch(
            f"/api/tasks/{up}/checklist/{item_up}", json={"done": True}, headers=alice
        )
    )
    added = ok(
        await client.post(f"/api/tasks/{mixed}/checklist", json={"text": "c"}, headers=alice), 201
    )
    ok(
        await client.delete(
            f"/api/tasks/{up}/checklist/{added['checklist'][-1]['id'].upper()}", headers=alice
        )
    )
    edge = ok(
        await client.post(
            f"/api/tasks/{up}/dependencies",
            json={"depends_on": other["id"].upper(), "type": "related"},
            headers=alice,
        ),
        201,
    )
    assert (edge["task_id"], edge["depends_on"]) == (tid, other["id"])
    listed = ok(await client.get(f"/api/tasks/{mixed}/dependencies", headers=alice))
    assert [d["task_id"] for d in listed["depends_on"]] == [other["id"]]
    ok(
        await client.delete(
            f"/api/tasks/{mixed}/dependencies/{other['id'].upper()}", headers=alice
        ),
        204,
    )
    completed = ok(await client.post(f"/api/tasks/{up}/complete", headers=alice))
    assert completed["id"] == tid
    ok(await client.post(f"/api/tasks/{mixed}/reopen", headers=alice))

    # Versions are keyed by the canonical id, so every spelling reads the same history.
    history = ok(await client.get(f"/api/tasks/{tid}/versions", headers=alice))["items"]
    assert len(history) == 7
    for spelling in (up, mixed):
        assert (
            ok(await client.get(f"/api/tasks/{spelling}/versions", headers=alice))["items"]
            == history
        )
        assert ok(await client.get(f"/api/tasks/{spelling}/versions/2", headers=alice))["n"] == 2
        diff = ok(await client.get(f"/api/tasks/{spelling}/diff?from=1&to=2", headers=alice))
        assert diff["task_id"] == tid
    ok(await client.post(f"/api/tasks/{up}/versions/1/restore", headers=alice))

    # Every event names the task (and anything else) in its one spelling.
    events = await published(redis, "events.tasks")
    assert {e.data["task_id"] for e in events} == {tid, other["id"]}
    assert len([e for e in events if e.type == "task.completed"]) == 1


async def test_malformed_ids_in_bodies_are_400(client: Client, alice: dict[str, str]) -> None:
    task = await create(client, alice)
    for depends_on in ["nope", "Z" * 24, "0" * 23, "0" * 25]:
        response = await client.post(
            f"/api/tasks/{task['id']}/dependencies", json={"depends_on": depends_on}, headers=alice
        )
        assert response.status_code == 400, response.text
