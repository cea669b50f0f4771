"""Idempotency-Key: one effect per key, the same answer on retry, 422 on reuse for another request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from deepiri_kit.settings import load_settings
from kit.sample_app import PREFIX, SampleSettings, build
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
async def client(service_env: dict[str, Any]) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=build(load_settings(SampleSettings, {}, **service_env))) as c:
        yield c


async def count_notes(mongo: Any) -> int:
    return int(await mongo["notes"].count_documents({}))


async def test_same_key_same_request_replays_the_first_response(
    client: AsyncTestClient[Any], issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "k-1"}
    first = await client.post(f"{PREFIX}/notes", json={"title": "once"}, headers=headers)
    second = await client.post(f"{PREFIX}/notes", json={"title": "once"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count_notes(mongo) == 1


async def test_same_key_different_request_is_422(
    client: AsyncTestClient[Any], issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "k-2"}
    await client.post(f"{PREFIX}/notes", json={"title": "one"}, headers=headers)
    reused = await client.post(f"{PREFIX}/notes", json={"title": "two"}, headers=headers)
    assert reused.status_code == 422
    assert reused.headers["content-type"].startswith("application/problem+json")
    assert await count_notes(mongo) == 1


async def test_keys_are_scoped_per_caller(
    client: AsyncTestClient[Any], issuer: TokenIssuer, mongo: Any
) -> None:
    for user in ("alice", "bob"):
        headers = {**issuer.headers(user, "notes:write"), "Idempotency-Key": "shared"}
        assert (
            await client.post(f"{PREFIX}/notes", json={"title": "x"}, headers=headers)
        ).status_code == 201
    assert await count_notes(mongo) == 2


async def test_concurrent_duplicates_create_once(
    client: AsyncTestClient[Any], issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "race"}
    responses = await asyncio.gather(
        *(client.post(f"{PREFIX}/notes", json={"title": "r"}, headers=headers) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    assert await count_notes(mongo) == 1
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1


async def test_in_flight_key_is_409_and_abandoned_one_is_taken_over(
    client: AsyncTestClient[Any], issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "busy"}
    first = await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    record = await mongo["idempotency_keys"].find_one({"_id": "alice:busy"})
    # Pretend the first request is still running...
    await mongo["idempotency_keys"].update_one({"_id": "alice:busy"}, {"$set": {"status": None}})
    busy = await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    assert busy.status_code == 409
    # ...or that its process died long ago: the key is taken over and the request runs.
    await mongo["idempotency_keys"].update_one(
        {"_id": "alice:busy"}, {"$set": {"created_at": datetime(2000, 1, 1, tzinfo=UTC)}}
    )
    retried = await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    assert retried.status_code == 201
    assert record["fingerprint"]
    assert first.json()["id"] != retried.json()["id"]


async def test_invalid_key_is_400(client: AsyncTestClient[Any], issuer: TokenIssuer) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "x" * 300}
    assert (
        await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    ).status_code == 400


async def test_validation_failures_are_replayed_too(
    client: AsyncTestClient[Any], issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "bad"}
    first = await client.post(f"{PREFIX}/notes", json={"title": ""}, headers=headers)
    again = await client.post(f"{PREFIX}/notes", json={"title": ""}, headers=headers)
    assert first.status_code == again.status_code == 400
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_notes(mongo) == 0


async def test_public_routes_never_replay_across_callers(client: AsyncTestClient[Any]) -> None:
    headers = {"Idempotency-Key": "same-key"}
    first = await client.post(f"{PREFIX}/public-ping", headers=headers)
    second = await client.post(f"{PREFIX}/public-ping", headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() != second.json()
    assert "idempotent-replayed" not in second.headers


async def test_concurrent_takeovers_of_an_abandoned_key_run_once(
    client: AsyncTestClient[Any], issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "orphan"}
    await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    # The first request's process died long ago, mid-flight.
    await mongo["idempotency_keys"].update_one(
        {"_id": "alice:orphan"},
        {"$set": {"status": None, "created_at": datetime(2000, 1, 1, tzinfo=UTC)}},
    )
    responses = await asyncio.gather(
        *(client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers) for _ in range(6))
    )
    fresh = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(fresh) == 1  # one request ran; the rest replayed it or were told it is in flight
    for r in responses:
        assert r.status_code == 409 or r.json() == fresh[0].json()
    assert await count_notes(mongo) == 2


async def test_records_past_retention_are_pruned(
    client: AsyncTestClient[Any], issuer: TokenIssuer, mongo: Any
) -> None:
    from deepiri_kit.idempotency import prune

    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "old"}
    await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    headers["Idempotency-Key"] = "new"
    await client.post(f"{PREFIX}/notes", json={"title": "b"}, headers=headers)
    records = mongo["idempotency_keys"]
    await records.update_one(
        {"_id": "alice:old"}, {"$set": {"created_at": datetime(2000, 1, 1, tzinfo=UTC)}}
    )
    assert await prune(records) == 1
    assert [r["_id"] for r in await records.find().to_list()] == ["alice:new"]
