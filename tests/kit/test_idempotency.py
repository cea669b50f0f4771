"""Idempotency-Key: one effect per key, the same answer on retry, 422 on reuse for another request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from deepiri_kit.data.mongo import forget_idempotency_keys
from deepiri_kit.idempotency import record_id, scoped_key
from support.apps import app_client
from support.sample_app import PREFIX
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def count_notes(mongo: Any) -> int:
    return int(await mongo["notes"].count_documents({}))


async def test_same_key_same_request_replays_the_first_response(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
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
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "k-2"}
    await client.post(f"{PREFIX}/notes", json={"title": "one"}, headers=headers)
    reused = await client.post(f"{PREFIX}/notes", json={"title": "two"}, headers=headers)
    assert reused.status_code == 422
    assert reused.headers["content-type"].startswith("application/problem+json")
    assert await count_notes(mongo) == 1


async def test_keys_are_scoped_per_caller(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    for user in ("alice", "bob"):
        headers = {**issuer.headers(user, "notes:write"), "Idempotency-Key": "shared"}
        assert (
            await client.post(f"{PREFIX}/notes", json={"title": "x"}, headers=headers)
        ).status_code == 201
    assert await count_notes(mongo) == 2


async def test_concurrent_duplicates_create_once(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
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
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "busy"}
    rid = record_id("alice", "busy")
    # As if the first request's process had died after claiming the key, before its write.
    await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    await mongo["notes"].delete_many({})
    await mongo["idempotency_keys"].update_one({"_id": rid}, {"$set": {"status": None}})
    busy = await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    assert busy.status_code == 409
    assert int(busy.headers["retry-after"]) >= 1
    # Long enough ago that it is abandoned: nothing carries its stamp, so the request runs.
    await mongo["idempotency_keys"].update_one(
        {"_id": rid}, {"$set": {"created_at": datetime(2000, 1, 2, tzinfo=UTC)}}
    )
    retried = await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    assert retried.status_code == 201
    assert await count_notes(mongo) == 1


async def test_invalid_key_is_400(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "x" * 300}
    assert (
        await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    ).status_code == 400


async def test_validation_failures_are_replayed_too(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "bad"}
    first = await client.post(f"{PREFIX}/notes", json={"title": ""}, headers=headers)
    again = await client.post(f"{PREFIX}/notes", json={"title": ""}, headers=headers)
    assert first.status_code == again.status_code == 400
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_notes(mongo) == 0


async def test_public_routes_never_replay_across_callers(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "same-key"}
    first = await client.post(f"{PREFIX}/public-ping", headers=headers)
    second = await client.post(f"{PREFIX}/public-ping", headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() != second.json()
    assert "idempotent-replayed" not in second.headers


async def test_concurrent_takeovers_of_an_abandoned_key_run_once(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "orphan"}
    await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    # The first request's process died long ago, mid-flight, before its write.
    await mongo["notes"].delete_many({})
    await mongo["idempotency_keys"].update_one(
        {"_id": record_id("alice", "orphan")},
        {"$set": {"status": None, "created_at": datetime(2000, 1, 2, tzinfo=UTC)}},
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
    assert await count_notes(mongo) == 1


async def test_records_past_retention_are_pruned(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    from deepiri_kit.idempotency import prune

    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "old"}
    await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    headers["Idempotency-Key"] = "new"
    await client.post(f"{PREFIX}/notes", json={"title": "b"}, headers=headers)
    records = mongo["idempotency_keys"]
    await records.update_one(
        {"_id": record_id("alice", "old")},
        {"$set": {"created_at": datetime(2000, 1, 1, tzinfo=UTC)}},
    )
    assert await prune(records) == 1
    assert [r["_id"] for r in await records.find().to_list()] == [record_id("alice", "new")]


# --- keys are unambiguous, and a record answers only its own caller (issue 8, item 2) ---------


def test_record_ids_never_collide_across_callers() -> None:
    # Every way of splitting the same characters between caller and key is a different record.
    pairs = [("u:x", "k"), ("u", "x:k"), ("u:x:k", ""), ("", "u:x:k"), ("u", "x"), ("u:", "x")]
    pairs += [("1:a", "b"), ("1", "a1:b"), ("ab", "c"), ("a", "bc")]
    assert len({record_id(o, k) for o, k in pairs}) == len(pairs)
    assert len({scoped_key(o, k) for o, k in pairs}) == len(pairs)
    assert scoped_key("spend", "u:x", "k") != scoped_key("spend", "u", "x:k")


async def test_a_colon_in_the_subject_cannot_reach_another_callers_response(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    victim = {**issuer.headers("u", "notes:write"), "Idempotency-Key": "x:k"}
    attacker = {**issuer.headers("u:x", "notes:write"), "Idempotency-Key": "k"}
    first = await client.post(f"{PREFIX}/notes", json={"title": "mine"}, headers=victim)
    second = await client.post(f"{PREFIX}/notes", json={"title": "mine"}, headers=attacker)
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers  # the attacker's own request ran
    assert second.json()["id"] != first.json()["id"]
    assert await count_notes(mongo) == 2


async def test_a_record_is_only_replayed_to_the_caller_stored_in_it(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("bob", "notes:write"), "Idempotency-Key": "k"}
    await client.post(f"{PREFIX}/notes", json={"title": "b"}, headers=headers)
    # Whatever put another owner's record under bob's id (an old format, a bug), bob must
    # not be shown it.
    await mongo["idempotency_keys"].update_one(
        {"_id": record_id("bob", "k")}, {"$set": {"owner": "mallory"}}
    )
    again = await client.post(f"{PREFIX}/notes", json={"title": "b"}, headers=headers)
    assert again.status_code == 422
    assert "idempotent-replayed" not in again.headers
    assert await count_notes(mongo) == 1


# --- at most once (issue 8, item 3) -------------------------------------------------------------


async def test_the_record_is_final_before_the_response_starts(
    app: Litestar, issuer: TokenIssuer, mongo: Any
) -> None:
    """A retry sent the moment the answer arrives must replay it, never meet "in flight"."""
    rid = record_id("alice", "fast-retry")
    seen: list[Any] = []

    async def observed(scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                records = app.state.idempotency_records
                seen.append(await records.find_one({"_id": rid}))
            await send(message)

        await app(scope, receive, spy if scope["type"] == "http" else send)

    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "fast-retry"}
    async with app_client(app, asgi=observed) as client:
        first = await client.post(f"{PREFIX}/notes", json={"title": "x"}, headers=headers)
        again = await client.post(f"{PREFIX}/notes", json={"title": "x"}, headers=headers)
    assert first.status_code == 201
    assert seen[0] is not None
    assert seen[0]["status"] == 201  # finalised before the first byte of the answer
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_notes(mongo) == 1


async def test_a_write_that_committed_before_a_failure_is_never_run_again(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "lost-answer"}
    url = f"{PREFIX}/notes/committed-then-lost"
    first = await client.post(url, json={"title": "once"}, headers=headers)
    # The connection broke after the commit: a 503 problem the client may retry, not a 500.
    assert first.status_code == 503
    assert first.headers["content-type"].startswith("application/problem+json")
    assert int(first.headers["retry-after"]) >= 1
    for _ in range(3):
        retried = await client.post(url, json={"title": "once"}, headers=headers)
        assert retried.status_code == 409
        assert retried.json()["type"].endswith("/idempotency-key-applied")
    assert await count_notes(mongo) == 1  # one key, one application


async def test_an_abandoned_key_whose_change_committed_is_answered_not_run_again(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    headers = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "died"}
    await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    # The process died after committing, before finalising: the record is still in flight,
    # long past the abandonment age (60 s) and well within retention.
    await mongo["idempotency_keys"].update_one(
        {"_id": record_id("alice", "died")},
        {"$set": {"status": None, "created_at": datetime.now(UTC) - timedelta(minutes=10)}},
    )
    responses = await asyncio.gather(
        *(client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers) for _ in range(4))
    )
    assert {r.status_code for r in responses} == {409}
    later = await client.post(f"{PREFIX}/notes", json={"title": "a"}, headers=headers)
    assert later.status_code == 409
    assert later.json()["type"].endswith("/idempotency-key-applied")
    assert await count_notes(mongo) == 1


async def test_a_deleted_accounts_records_and_their_takeover_locks_are_forgotten(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any
) -> None:
    for who in ("alice", "bob"):
        headers = {**issuer.headers(who, "notes:write"), "Idempotency-Key": "k"}
        await client.post(f"{PREFIX}/notes", json={"title": "mine"}, headers=headers)
    # A takeover lock left on alice's record (an abandoned request was retried).
    lock = {"takeover_of": record_id("alice", "k"), "created": datetime.now(UTC)}
    await mongo["idempotency_keys"].insert_one({"_id": lock, "created_at": datetime.now(UTC)})

    assert await forget_idempotency_keys(mongo, "alice") == 1
    assert await forget_idempotency_keys(mongo, "alice") == 0  # again: nothing left

    left = await mongo["idempotency_keys"].find().to_list()
    assert [r["_id"] for r in left] == [record_id("bob", "k")]
    # The key runs its request again for alice (a new record), and still replays for bob.
    again = {**issuer.headers("alice", "notes:write"), "Idempotency-Key": "k"}
    rerun = await client.post(f"{PREFIX}/notes", json={"title": "mine"}, headers=again)
    assert rerun.status_code == 201
    assert "idempotent-replayed" not in rerun.headers


# --- a busy datastore: retried where safe, then a 503 (issue 8, item 8) --------------------------


async def test_busy_reads_and_unstamped_keyed_writes_are_retried(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    state = app.state
    state.busy, state.busy_calls = 2, 0
    read = await client.get(f"{PREFIX}/notes/busy", headers=issuer.headers("a", "notes:read"))
    assert read.status_code == 200
    assert read.json() == {"calls": 3}
    state.busy, state.busy_calls = 2, 0
    headers = {**issuer.headers("a", "notes:write"), "Idempotency-Key": "busy-write"}
    write = await client.post(f"{PREFIX}/notes/busy", headers=headers)
    assert write.status_code == 201
    assert write.json() == {"calls": 3}


async def test_a_datastore_that_stays_busy_is_a_503_with_retry_after(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    from deepiri_kit.retry import ATTEMPTS

    state = app.state
    state.busy, state.busy_calls = 1000, 0
    read = await client.get(f"{PREFIX}/notes/busy", headers=issuer.headers("a", "notes:read"))
    assert read.status_code == 503
    assert read.headers["content-type"].startswith("application/problem+json")
    assert int(read.headers["retry-after"]) >= 1
    assert state.busy_calls == ATTEMPTS  # bounded
    state.busy_calls = 0
    # Without an Idempotency-Key a write is not retried: it might have written already.
    write = await client.post(f"{PREFIX}/notes/busy", headers=issuer.headers("a", "notes:write"))
    assert write.status_code == 503
    assert state.busy_calls == 1
