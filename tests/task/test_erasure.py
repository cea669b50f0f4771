"""A deleted account (``user.deleted`` on ``events.users``, consumed by the app's own
consumer) leaves nothing in task-service: tasks, deleted tasks, versions and their journalled
events, delivery markers, dependency edges and Idempotency-Key records all go; only the
tombstone stays, so a token issued before the deletion writes nothing afterwards, and a write
that raced the erasure is undone. Other people's data is untouched; redelivery is harmless."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from deepiri_kit import utcnow
from deepiri_kit.data.mongo import Tombstones
from support.erasure import mongo_traces, publish_deletion, someone
from support.streams import drained
from support.tasks import RW, create
from support.tokens import TokenIssuer
from support.waiting import eventually
from task_service.events.consume import GROUP

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Client = httpx.AsyncClient
USERS = "events.users"
TOMBSTONES = "erased_users"


async def build_a_life(client: Client, headers: dict[str, str]) -> list[str]:
    """Everything a person leaves in task-service: tasks of each kind, changed, completed,
    soft-deleted, linked, and one created with an Idempotency-Key. Returns the task ids."""
    todo = await create(client, headers, title="write the report", notes="private notes")
    blocker = await create(client, headers, title="gather numbers")
    daily = await create(client, headers, title="stretch", kind="daily")
    habit = await create(client, headers, title="drink water", kind="habit")
    keyed = await client.post(
        "/api/tasks",
        json={"title": "keyed"},
        headers={**headers, "Idempotency-Key": "create-keyed"},
    )
    assert keyed.status_code == 201, keyed.text
    linked = await client.post(
        f"/api/tasks/{todo['id']}/dependencies",
        json={"depends_on": blocker["id"], "type": "blocks"},
        headers=headers,
    )
    assert linked.status_code == 201, linked.text
    patched = await client.patch(
        f"/api/tasks/{todo['id']}", json={"title": "write the final report"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    for task in (blocker, daily):
        done = await client.post(f"/api/tasks/{task['id']}/complete", json={}, headers=headers)
        assert done.status_code == 200, done.text
    tapped = await client.post(
        f"/api/tasks/{habit['id']}/complete", json={"direction": "up"}, headers=headers
    )
    assert tapped.status_code == 200, tapped.text
    gone = await client.delete(f"/api/tasks/{keyed.json()['id']}", headers=headers)
    assert gone.status_code == 204, gone.text
    return [todo["id"], blocker["id"], daily["id"], habit["id"], keyed.json()["id"]]


async def snapshot(mongo: Any) -> dict[str, list[Any]]:
    """Every document of every collection but the tombstones (what others own)."""
    names = sorted(set(await mongo.list_collection_names()) - {TOMBSTONES})
    return {name: await mongo[name].find().sort("_id").to_list() for name in names}


async def erased(mongo: Any, redis: Any, user_id: str) -> None:
    """Waits until the consumer has handled every user event, then checks the tombstone."""

    async def handled() -> bool:
        return await drained(redis, USERS, GROUP)

    await eventually(handled)
    assert await mongo[TOMBSTONES].find_one({"_id": user_id}) is not None


async def test_a_deleted_account_leaves_nothing_and_others_keep_everything(
    client: Client, mongo: Any, redis: Any, issuer: TokenIssuer
) -> None:
    alice, bob = someone("alice"), someone("bob")
    alice_h, bob_h = issuer.headers(alice, RW), issuer.headers(bob, RW)
    alice_tasks = await build_a_life(client, alice_h)
    await build_a_life(client, bob_h)
    before = await mongo_traces(mongo, alice)
    # What there is to erase (compaction has not run: delivery markers exist too).
    assert {"tasks", "task_versions", "task_edges", "idempotency_keys"} <= set(before)
    bobs = await mongo_traces(mongo, bob)

    await publish_deletion(redis, alice)
    await erased(mongo, redis, alice)

    assert await mongo_traces(mongo, alice, besides=[TOMBSTONES]) == {}
    # Delivery markers are named after the versions they mark: none outlives its version.
    markers = await mongo["task_versions_delivered"].distinct("_id")
    assert set(markers) <= set(await mongo["task_versions"].distinct("_id"))
    assert await mongo_traces(mongo, bob) == bobs
    for task_id in alice_tasks:
        assert (await client.get(f"/api/tasks/{task_id}", headers=alice_h)).status_code == 404
        versions = await client.get(f"/api/tasks/{task_id}/versions", headers=alice_h)
        assert versions.status_code == 404
    listed = await client.get("/api/tasks", headers=alice_h, params={"status": "deleted"})
    assert listed.json()["items"] == []
    assert len((await client.get("/api/tasks", headers=bob_h)).json()["items"]) == 4


async def test_redelivery_and_a_repeated_deletion_change_nothing(
    client: Client, mongo: Any, redis: Any, issuer: TokenIssuer
) -> None:
    alice, bob = someone("alice"), someone("bob")
    await build_a_life(client, issuer.headers(alice, RW))
    await build_a_life(client, issuer.headers(bob, RW))
    await publish_deletion(redis, alice)
    await erased(mongo, redis, alice)
    after = await snapshot(mongo)
    tombstone = await mongo[TOMBSTONES].find_one({"_id": alice})

    await publish_deletion(redis, alice)  # the same event again (an at-least-once redelivery)
    await publish_deletion(redis, alice, event_id="replayed-elsewhere")  # another id, same act
    await erased(mongo, redis, alice)

    assert await snapshot(mongo) == after
    assert await mongo[TOMBSTONES].find_one({"_id": alice}) == tombstone
    assert await redis.xlen(f"dlq.{GROUP}") == 0


async def test_a_token_issued_before_the_deletion_writes_nothing(
    client: Client, mongo: Any, redis: Any, issuer: TokenIssuer
) -> None:
    alice = someone("alice")
    headers = issuer.headers(alice, RW)  # still valid after the account is deleted
    await create(client, headers)
    await publish_deletion(redis, alice)
    await erased(mongo, redis, alice)

    refused = await client.post("/api/tasks", json={"title": "back from the dead"}, headers=headers)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert await mongo_traces(mongo, alice, besides=[TOMBSTONES]) == {}


async def update(client: Client, headers: dict[str, str], ids: list[str]) -> httpx.Response:
    return await client.patch(f"/api/tasks/{ids[0]}", json={"title": "too late"}, headers=headers)


async def complete(client: Client, headers: dict[str, str], ids: list[str]) -> httpx.Response:
    return await client.post(f"/api/tasks/{ids[0]}/complete", json={}, headers=headers)


async def link(client: Client, headers: dict[str, str], ids: list[str]) -> httpx.Response:
    return await client.post(
        f"/api/tasks/{ids[0]}/dependencies",
        json={"depends_on": ids[1], "type": "related"},
        headers=headers,
    )


@pytest.mark.parametrize("write", [update, complete, link])
async def test_a_write_that_raced_the_erasure_is_undone(
    client: Client, mongo: Any, issuer: TokenIssuer, write: Any
) -> None:
    """The erasure's deletes ran while a write was already past its checks, which then
    landed: the write sees the tombstone afterwards, erases again and answers 403."""
    alice, bob = someone("alice"), someone("bob")
    headers = issuer.headers(alice, RW)
    ids = [(await create(client, headers, title=t))["id"] for t in ("one", "two")]
    bobs_task = await create(client, issuer.headers(bob, RW))
    await Tombstones(mongo).bury(alice, utcnow())  # what the erasure writes first

    answer = await write(client, headers, ids)

    assert answer.status_code == 403, answer.text
    assert await mongo_traces(mongo, alice, besides=[TOMBSTONES]) == {}
    got = await client.get(f"/api/tasks/{bobs_task['id']}", headers=issuer.headers(bob, RW))
    assert got.status_code == 200
