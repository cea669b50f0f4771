"""A deleted account (``user.deleted`` on ``events.users``, consumed by the app's own
consumer) leaves nothing in gamification-service: ledger, wallet snapshots, badges, ratings
and rating history, display name, Idempotency-Key records and every leaderboard entry (all
metrics, all periods) go; matches keep the other players' results with a stand-in id. The
tombstone keeps it so: a late ``task.completed`` or ``user.updated``, a request with an old
token, a match naming the account, or completions racing the erasure bring nothing back.
Others' wallets and boards are untouched; redelivery is harmless."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec
import pytest

from deepiri_kit import utcnow
from deepiri_kit.data.mongo import Tombstones
from deepiri_kit.events import EventBus, new_event, outbox_entry
from gamification_service.events.consume import GROUP
from gamification_service.service import Gamification
from support.erasure import mongo_traces, publish_deletion, redis_traces, someone
from support.gamification import task_event
from support.streams import drained
from support.tokens import TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

API = "/api/gamification"
Client = httpx.AsyncClient
RW = "gamification:read gamification:write"
TOMBSTONES = "erased_users"


def service(issuer: TokenIssuer) -> dict[str, str]:
    return issuer.headers("challenge-service", "ratings:write", client_id="challenge-service")


def bus_and_inbox(user_id: str) -> list[str]:
    """Redis keys that may name the user after the erasure: the event streams (the bus; an
    entry stays until the stream is trimmed) and the consumer's inbox marker for the
    deletion itself (its event id is ``<user>:deleted``; it expires)."""
    return [
        "events.tasks",
        "events.users",
        "events.gamification",
        f"inbox:{GROUP}:{user_id}:deleted",
    ]


async def consumed(redis: Any) -> None:
    async def done() -> bool:
        return all([await drained(redis, s, GROUP) for s in ("events.tasks", "events.users")])

    await eventually(done)


async def play(client: Client, redis: Any, issuer: TokenIssuer, *people: str) -> None:
    """What people leave in gamification-service: names, paid tasks (XP, coins, badges, the
    boards of every period), a keyed spend, and a duel between the first two."""
    bus = EventBus(redis)
    for person in people:
        await bus.publish(
            "events.users",
            new_event(
                "user.registered",
                source="user-service",
                user_id=person,
                data={"user_id": person, "display_name": f"Name of {person}"},
            ),
        )
        for _ in range(2):
            await bus.publish("events.tasks", task_event(person, difficulty="hard", on_time=True))
    await consumed(redis)
    for person in people:
        spent = await client.post(
            f"{API}/wallet/spend",
            json={"currency": "coins", "amount": 5, "reason": "a hat"},
            headers={**issuer.headers(person, RW), "Idempotency-Key": "hat"},
        )
        assert spent.status_code in (200, 201), spent.text
    duel = {
        "match_id": someone("duel"),
        "category": "coding",
        "teams": [{"members": [people[0]], "rank": 1}, {"members": [people[1]], "rank": 2}],
    }
    recorded = await client.post(f"{API}/ratings/matches", json=duel, headers=service(issuer))
    assert recorded.status_code == 201, recorded.text
    await consumed(redis)


async def boards_of(redis: Any) -> dict[str, list[tuple[str, float]]]:
    keys = sorted([k async for k in redis.scan_iter(match="lb:*", _type="zset")])
    return {k: await redis.zrange(k, 0, -1, withscores=True) for k in keys}


async def view_of(client: Client, issuer: TokenIssuer, person: str) -> dict[str, Any]:
    """What the API shows the person (ledger pages exclude nothing time-dependent)."""
    h = issuer.headers(person, RW)
    wallet = (await client.get(f"{API}/wallet", headers=h)).json()
    return {
        "balances": {k: v for k, v in wallet["balances"].items() if k != "energy"},
        "level": wallet["level"],
        "ledger": (await client.get(f"{API}/wallet/ledger", headers=h)).json()["items"],
        "badges": (await client.get(f"{API}/badges/me", headers=h)).json()["earned"],
        # Everything but the rank, which moves when someone above leaves.
        "rating": {
            k: v
            for k, v in (await client.get(f"{API}/ratings/coding/me", headers=h)).json().items()
            if k != "rank"
        },
    }


async def test_a_deleted_account_leaves_nothing_and_others_keep_everything(
    client: Client, mongo: Any, redis: Any, issuer: TokenIssuer
) -> None:
    alice, bob = someone("alice"), someone("bob")
    await play(client, redis, issuer, alice, bob)
    # Everything there is to erase exists, in MongoDB and on every board.
    held = await mongo_traces(mongo, alice)
    assert {"ledger", "wallet_states", "ratings", "rating_history", "profiles"} <= set(held)
    assert {"matches", "idempotency_keys"} <= set(held)
    boards_before = await boards_of(redis)
    periods = {k.split(":")[2] for k, m in boards_before.items() if alice in dict(m)}
    assert {"all", "day", "week", "month"} <= periods
    bob_before = await view_of(client, issuer, bob)

    await publish_deletion(redis, alice)
    await consumed(redis)

    assert await mongo_traces(mongo, alice, besides=[TOMBSTONES]) == {}
    assert await redis_traces(redis, alice, besides=bus_and_inbox(alice)) == []
    # bob keeps every entry and value; only his ranks moved up.
    assert await view_of(client, issuer, bob) == bob_before
    for key, members in (await boards_of(redis)).items():
        before = [(m, v) for m, v in boards_before.get(key, []) if m != alice]
        assert members == before, key
    [match] = await mongo["matches"].find().to_list()
    assert match["results"][1]["user_id"] == bob
    assert match["results"][0]["user_id"].startswith("deleted-")
    # alice's old token sees an empty wallet and is on no board.
    mine = await view_of(client, issuer, alice)
    assert (mine["ledger"], mine["badges"], mine["rating"]["matches"]) == ([], [], 0)
    assert set(mine["balances"].values()) == {0}
    board = await client.get(f"{API}/leaderboards/xp/me", headers=issuer.headers(alice, RW))
    assert board.json()["me"] is None


async def contents(mongo: Any) -> dict[str, list[dict[str, Any]]]:
    """Every collection's documents, but the chains' writer leases (a process id and the
    time of its last beat, renewed every pass: no one's data)."""
    names = await mongo.list_collection_names()
    return {n: await mongo[n].find().to_list() for n in names if not n.endswith("_writers")}


async def test_nothing_brings_a_deleted_account_back(
    client: Client, mongo: Any, redis: Any, issuer: TokenIssuer
) -> None:
    alice, bob = someone("alice"), someone("bob")
    await play(client, redis, issuer, alice, bob)
    await publish_deletion(redis, alice)
    await consumed(redis)
    boards = await boards_of(redis)
    erased_db = await contents(mongo)

    bus = EventBus(redis)
    # A completion still in flight, a late profile change, the deletion again (same id: an
    # at-least-once redelivery) and from elsewhere (another id).
    await bus.publish("events.tasks", task_event(alice, difficulty="hard"))
    await bus.publish(
        "events.users",
        new_event(
            "user.updated",
            source="user-service",
            user_id=alice,
            data={"user_id": alice, "display_name": "Back again"},
        ),
    )
    await publish_deletion(redis, alice)
    await publish_deletion(redis, alice, event_id="from-a-replay")
    await consumed(redis)
    # A request with a token issued before the deletion, and a match naming the account.
    h = {**issuer.headers(alice, RW), "Idempotency-Key": "after"}
    spend = {"currency": "energy", "amount": 1, "reason": "x"}
    refused = await client.post(f"{API}/wallet/spend", json=spend, headers=h)
    assert refused.status_code == 403, refused.text
    duel = {
        "match_id": "after",
        "category": "coding",
        "teams": [{"members": [alice], "rank": 1}, {"members": [bob], "rank": 2}],
    }
    match = await client.post(f"{API}/ratings/matches", json=duel, headers=service(issuer))
    assert match.status_code == 422, match.text
    assert alice not in match.text  # nor is the id copied into answers, logs or records

    assert await boards_of(redis) == boards
    now_db = await contents(mongo)
    assert {n: d for n, d in now_db.items() if n != "idempotency_keys"} == {
        n: d for n, d in erased_db.items() if n != "idempotency_keys"
    }
    assert await mongo_traces(mongo, alice, besides=[TOMBSTONES, "idempotency_keys"]) == {}
    assert await redis.xlen(f"dlq.{GROUP}") == 0


async def erase_after(game: Gamification, user_id: str, yields: int) -> Any:
    for _ in range(yields):
        await asyncio.sleep(0)
    return await game.reactions.on_user_deleted(user_id, utcnow())


@pytest.mark.parametrize("yields", [0, 25, 100, 400], ids=lambda n: f"erased-after-{n}-yields")
async def test_completions_racing_the_erasure_leave_nothing(
    client: Client, game: Gamification, mongo: Any, redis: Any, yields: int
) -> None:
    """Completions whose check passed before the tombstone was written land after the
    deletes: each checks again once it has written everything (its badges too, or when it
    failed half-way) and erases again. The erasure starts at different points of the
    completions' writes (after ``yields`` turns of the event loop)."""
    alice, bob = someone("alice"), someone("bob")
    reactions = game.reactions
    handler = reactions.on_task_completed
    for person in (alice, bob):
        event = task_event(person)
        await handler(event.id, person, task_event_contract(event))
    bob_before = await mongo_traces(mongo, bob)

    events = [task_event(alice, difficulty="hard") for _ in range(12)]
    outcomes = await asyncio.gather(
        *(handler(e.id, alice, task_event_contract(e)) for e in events),
        erase_after(game, alice, yields),
        return_exceptions=True,
    )
    # A handler that lost its write to the erasure fails; the consumer delivers it again.
    for event, outcome in zip(events, outcomes, strict=False):
        if isinstance(outcome, Exception):
            await handler(event.id, alice, task_event_contract(event))

    assert await mongo_traces(mongo, alice, besides=[TOMBSTONES]) == {}
    assert await redis_traces(redis, alice, besides=bus_and_inbox(alice)) == []
    assert await mongo_traces(mongo, bob) == bob_before


def task_event_contract(envelope: Any) -> Any:
    from deepiri_kit.contracts.tasks import TaskCompleted

    return TaskCompleted.decode(envelope)


async def test_a_sweep_delivering_for_an_account_being_erased_erases_it_again(
    game: Gamification, mongo: Any, redis: Any
) -> None:
    """A writer died before delivering its wallet's events; the chain's sweep delivers them
    (the board entry, the delivery marker) while the account is being erased — here, after
    the tombstone and before the deletes, as a pass holding links read before the deletes
    would deliver after them. The pass erases the buried account again itself."""
    alice = someone("alice")
    event = task_event(alice)
    await game.reactions.on_task_completed(event.id, alice, task_event_contract(event))
    snapshots = game.wallets.snapshots
    state = await snapshots.state(alice)
    left = msgspec.structs.replace(state, seq=state.seq + 1)
    announced = new_event("tests.left", source="tests", user_id=alice, data={})
    # The dead writer's snapshot, its event not published.
    outbox = [outbox_entry("events.gamification", announced)]
    assert await snapshots.claim(alice, left, "applied", "", outbox) is not None
    await Tombstones(mongo).bury(alice, utcnow())  # what the erasure writes first

    assert await snapshots.sweep(0) == 1

    assert await mongo_traces(mongo, alice, besides=[TOMBSTONES]) == {}
    assert await redis_traces(redis, alice, besides=bus_and_inbox(alice)) == []


@pytest.mark.parametrize("yields", [0, 25, 100, 400], ids=lambda n: f"erased-after-{n}-yields")
async def test_matches_finished_racing_the_erasure_leave_nothing(
    game: Gamification, mongo: Any, redis: Any, yields: int
) -> None:
    """Matches a writer left pending (it died after recording them) are finished by the
    match finisher while one of their players is being erased: the finisher read them with
    that player still pending, so its rating links, read model, board entries and events
    may land after the erasure's deletes. Once it has written everything it checks again
    and erases them. The erasure starts at different points of the finishing (after
    ``yields`` turns of the event loop); the other player keeps every match, once."""
    alice, bob = someone("alice"), someone("bob")
    ratings = game.ratings
    matches = 6
    for _ in range(matches):
        match = await ratings.plan(someone("duel"), "coding", [([alice], 1), ([bob], 2)])
        assert await ratings.store.insert_match(match)

    await asyncio.gather(ratings.finish_pending(0), erase_after(game, alice, yields))
    await ratings.finish_pending(0)  # the finisher's next pass: whatever is left pending

    assert await mongo_traces(mongo, alice, besides=[TOMBSTONES]) == {}
    assert await redis_traces(redis, alice, besides=bus_and_inbox(alice)) == []
    assert await mongo["rating_history"].count_documents({"user_id": bob}) == matches
    assert await mongo["matches"].count_documents({"pending": {"$exists": True}}) == 0
    # The matches keep bob's results, with stand-ins where alice was.
    players = {r["user_id"] async for m in mongo["matches"].find() for r in m["results"]}
    assert bob in players
    assert all(u == bob or u.startswith("deleted-") for u in players), players
