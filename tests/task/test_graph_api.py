"""Dependencies and the graph endpoint against real FerretDB."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from support.streams import published

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Client = httpx.AsyncClient


async def create(client: Client, headers: dict[str, str], **fields: Any) -> str:
    response = await client.post("/api/tasks", json={"title": "t", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


async def link(
    client: Client, headers: dict[str, str], task: str, depends_on: str, kind: str = "blocks"
) -> httpx.Response:
    return await client.post(
        f"/api/tasks/{task}/dependencies",
        json={"depends_on": depends_on, "type": kind},
        headers=headers,
    )


async def test_cycle_is_refused_with_its_path(client: Client, alice: dict[str, str]) -> None:
    a, b, c = [await create(client, alice, title=n) for n in "abc"]
    assert (await link(client, alice, b, a)).status_code == 201
    assert (await link(client, alice, c, b, "precedes")).status_code == 201
    refused = await link(client, alice, a, c, "subtask")
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["cycle"] == [a, c, b, a]
    assert (await link(client, alice, a, c, "related")).status_code == 201  # links never cycle
    self_loop = await link(client, alice, a, a)
    assert (self_loop.status_code, self_loop.json()["cycle"]) == (409, [a, a])


async def test_edges_are_idempotent_typed_and_listed_both_ways(
    client: Client, alice: dict[str, str]
) -> None:
    a, b, c = [await create(client, alice, title=n) for n in "abc"]
    assert (await link(client, alice, b, a)).status_code == 201
    assert (await link(client, alice, b, a)).status_code == 200  # the same edge again
    changed = await link(client, alice, b, a, "precedes")
    assert (changed.status_code, changed.json()["existing_type"]) == (409, "blocks")
    assert (await link(client, alice, c, b, "related")).status_code == 201
    listed = (await client.get(f"/api/tasks/{b}/dependencies", headers=alice)).json()
    assert [(d["task_id"], d["type"], d["title"]) for d in listed["depends_on"]] == [
        (a, "blocks", "a")
    ]
    assert [(d["task_id"], d["type"]) for d in listed["dependents"]] == [(c, "related")]
    assert (
        await client.delete(f"/api/tasks/{b}/dependencies/{a}", headers=alice)
    ).status_code == 204
    assert (
        await client.delete(f"/api/tasks/{b}/dependencies/{a}", headers=alice)
    ).status_code == 404
    listed = (await client.get(f"/api/tasks/{b}/dependencies", headers=alice)).json()
    assert listed["depends_on"] == []


async def test_edges_only_between_the_callers_live_tasks(
    client: Client, alice: dict[str, str], bob: dict[str, str]
) -> None:
    mine = await create(client, alice)
    theirs = await create(client, bob)
    assert (await link(client, alice, mine, theirs)).status_code == 404
    assert (await link(client, bob, mine, theirs)).status_code == 404
    gone = await create(client, alice)
    await client.delete(f"/api/tasks/{gone}", headers=alice)
    assert (await link(client, alice, mine, gone)).status_code == 404
    daily = await create(client, alice, kind="daily")
    assert (await link(client, alice, mine, daily)).status_code == 422
    assert (await link(client, alice, mine, daily, "related")).status_code == 201
    bad = await client.post(
        f"/api/tasks/{mine}/dependencies", json={"depends_on": "x", "type": "blocks"}, headers=alice
    )
    assert bad.status_code == 400
    bad_type = await client.post(
        f"/api/tasks/{mine}/dependencies", json={"depends_on": daily, "type": "owns"}, headers=alice
    )
    assert bad_type.status_code == 400


async def test_completing_a_blocked_task_names_its_blockers(
    client: Client, alice: dict[str, str], redis: Any
) -> None:
    blocker = await create(client, alice, title="first")
    parent = await create(client, alice, title="parent")
    child = await create(client, alice, title="child")
    task = await create(client, alice, title="second")
    await link(client, alice, task, blocker)
    await link(client, alice, parent, child, "subtask")
    refused = await client.post(f"/api/tasks/{task}/complete", headers=alice)
    assert refused.status_code == 409
    assert refused.json()["blockers"] == [{"task_id": blocker, "title": "first"}]
    assert (await client.post(f"/api/tasks/{parent}/complete", headers=alice)).status_code == 409
    assert await published(redis, "events.tasks", "task.completed") == []
    assert (await client.post(f"/api/tasks/{blocker}/complete", headers=alice)).status_code == 200
    assert (await client.post(f"/api/tasks/{task}/complete", headers=alice)).status_code == 200
    # A deleted subtask no longer holds its parent back.
    await client.delete(f"/api/tasks/{child}", headers=alice)
    assert (await client.post(f"/api/tasks/{parent}/complete", headers=alice)).status_code == 200


async def test_graph_order_ready_and_critical_path(client: Client, alice: dict[str, str]) -> None:
    design = await create(client, alice, title="design", estimated_minutes=60)
    build = await create(client, alice, title="build", estimated_minutes=120)
    docs = await create(client, alice, title="docs", estimated_minutes=30)
    ship = await create(client, alice, title="ship", estimated_minutes=10)
    loose = await create(client, alice, title="loose")
    await create(client, alice, kind="habit")  # not part of the graph
    await link(client, alice, build, design)
    await link(client, alice, ship, build)
    await link(client, alice, ship, docs, "precedes")
    await link(client, alice, docs, loose, "related")

    graph = (await client.get("/api/tasks/graph", headers=alice)).json()
    assert graph["nodes"] == 5
    assert graph["edges"] == 4
    assert graph["cycles"] == []
    order = graph["order"]
    assert order.index(design) < order.index(build) < order.index(ship)
    assert order.index(docs) < order.index(ship)
    assert graph["ready"] == [design, docs, loose]
    assert graph["critical_path"] == {"task_ids": [design, build, ship], "total_minutes": 190}

    await client.post(f"/api/tasks/{design}/complete", headers=alice)
    graph = (await client.get("/api/tasks/graph", headers=alice)).json()
    assert graph["ready"] == [build, docs, loose]
    assert graph["critical_path"] == {"task_ids": [build, ship], "total_minutes": 130}


async def test_concurrent_opposite_edges_never_leave_a_cycle(
    client: Client, alice: dict[str, str]
) -> None:
    for _ in range(3):
        a = await create(client, alice)
        b = await create(client, alice)
        results = await asyncio.gather(link(client, alice, a, b), link(client, alice, b, a))
        assert sorted(r.status_code for r in results) in ([201, 409], [409, 409])
    graph = (await client.get("/api/tasks/graph", headers=alice)).json()
    assert graph["cycles"] == []


async def test_graph_of_many_tasks_loads_edges_once(
    spans: Any, client: Client, alice: dict[str, str], mongo: Any
) -> None:
    """A chain of 400 todos (inserted directly: the API is not what is under test here):
    the graph and the cycle check cost one query for the nodes and one for the edges."""
    store_docs = []
    from bson import ObjectId

    from task_service.domain import tasks as rules

    ids = [ObjectId() for _ in range(400)]
    now = rules.NO_DUE_DATE.replace(year=2026)
    for index, oid in enumerate(ids):
        task = rules.new_task("alice", {"title": f"t{index}", "estimated_minutes": 1}, now)
        store_docs.append({"_id": oid, **task})
    await mongo["tasks"].insert_many(store_docs)
    await mongo["task_edges"].insert_many(
        [
            {
                "_id": f"{ids[i + 1]}>{ids[i]}",
                "owner": "alice",
                "task_id": str(ids[i + 1]),
                "depends_on": str(ids[i]),
                "type": "blocks",
                "created_at": now,
            }
            for i in range(399)
        ]
    )
    spans.clear()
    graph = (await client.get("/api/tasks/graph", headers=alice)).json()
    assert finds_by_collection(spans) == {"tasks": 1, "task_edges": 1}
    assert graph["order"] == [str(i) for i in ids]
    assert graph["ready"] == [str(ids[0])]
    assert graph["critical_path"]["total_minutes"] == 400
    spans.clear()
    refused = await link(client, alice, str(ids[0]), str(ids[-1]))
    assert refused.status_code == 409
    assert len(refused.json()["cycle"]) == 401
    assert finds_by_collection(spans) == {"tasks": 1, "task_edges": 1}


def finds_by_collection(spans: Any) -> dict[str, int]:
    """MongoDB ``find`` commands per collection, from the pymongo instrumentation's spans."""
    counts: dict[str, int] = {}
    for span in spans.get_finished_spans():
        attributes = span.attributes or {}
        if attributes.get("db.statement") == "find":
            name = str(attributes["db.mongodb.collection"])
            counts[name] = counts.get(name, 0) + 1
    return counts
