"""Deleting an account, across services, every one a real process: a person registered at
user-service, signed in with the code flow and PKCE, creates and completes tasks on
task-service (gamification-service credits them and ranks them; challenge-service counts them
for the solo challenge and the duel with another person they play), then deletes their
account. user-service publishes ``user.deleted`` through its outbox; task-service,
gamification-service and challenge-service then hold nothing of the person — their APIs show
nothing, and their databases and Redis hold no trace — while the other person's data is
untouched and their duel is forfeited to them, announced without the deleted person's id."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis as redis_client

from challenge_service.service import offer
from challenge_service.store.challenges import ChallengeStore
from deepiri_kit.contracts import agent
from deepiri_kit.events import Envelope, EventBus
from infra import FerretDBServer, RedisServer
from support.accounts import Accounts, Person
from support.challenges import generated as answered
from support.erasure import mongo_traces, redis_traces
from support.processes import ServiceProcess, ServiceProcesses, module_of
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]

TASKS, GAME, CHALLENGES = "/api/tasks", "/api/gamification", "/api/challenges"
TOMBSTONES = "erased_users"
# challenge-service's inbox marks handled event ids in MongoDB, and user-service's embed the
# account id (<user>:<change>): they expire (14 days), like the Redis inbox markers below.
INBOX = "consumed_events"
SERVICES = ("task-service", "gamification-service", "challenge-service")


def offered(
    servers: tuple[FerretDBServer, RedisServer],
    db: str,
    owner: Person,
    kind: agent.ChallengeKind,
    *invite: Person,
) -> str:
    """A challenge offered as challenge-service's ``generate`` stores it (ai-service, which
    tests/system/test_challenges.py runs, is not part of this): ten tasks in three days."""
    generated = answered(kind, 10, tag=None)
    challenge = offer(owner.id, generated, [p.id for p in invite], datetime.now(UTC))

    async def store() -> None:
        from pymongo import AsyncMongoClient
        from redis.asyncio import Redis

        mongo, redis = servers
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
        cache = Redis(host="127.0.0.1", port=redis.port, decode_responses=True)
        try:
            assert await ChallengeStore(client[db], EventBus(cache)).write(challenge, 1)
        finally:
            await client.close()
            await cache.aclose()

    asyncio.run(store())
    return challenge.id


def challenge_of(challenges: ServiceProcess, person: Person, cid: str) -> httpx.Response:
    with challenges.client(person.headers()) as api:
        return api.get(f"{CHALLENGES}/{cid}")


def live_a_little(tasks: ServiceProcess, person: Person) -> list[str]:
    """Two completed tasks (one created with an Idempotency-Key) linked by an edge."""
    due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    ids = []
    with tasks.client(person.headers()) as api:
        for i in range(2):
            created = api.post(
                TASKS,
                json={"title": f"{person.name}'s task {i}", "difficulty": "hard", "due_at": due},
                headers={"Idempotency-Key": f"create-{i}"},
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        linked = api.post(f"{TASKS}/{ids[1]}/dependencies", json={"depends_on": ids[0]})
        assert linked.status_code == 201, linked.text
        for task_id in ids:
            done = api.post(f"{TASKS}/{task_id}/complete", json={})
            assert done.status_code == 200, done.text
    return ids


def xp(game: ServiceProcess, person: Person) -> int:
    with game.client(person.headers()) as api:
        return int(api.get(f"{GAME}/wallet").json()["balances"]["xp"])


def on_board(game: ServiceProcess, reader: Person) -> set[str]:
    with game.client(reader.headers()) as api:
        # All time: a run across Sunday midnight has the credits on last week's board.
        board = api.get(f"{GAME}/leaderboards/xp", params={"limit": 100})
        return {e["user_id"] for e in board.json()["entries"]}


def traces(
    mongo: FerretDBServer, redis: RedisServer, dbs: list[str], user_id: str
) -> dict[str, Any]:
    """Where ``user_id`` still appears: per database the collections (tombstones aside),
    and the Redis keys besides the bus and the consumers' inbox markers."""

    async def search() -> dict[str, Any]:
        from pymongo import AsyncMongoClient
        from redis.asyncio import Redis

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
        cache = Redis(host="127.0.0.1", port=redis.port, decode_responses=True)
        try:
            found: dict[str, Any] = {
                db: await mongo_traces(client[db], user_id, besides=[TOMBSTONES, INBOX])
                for db in dbs
            }
            # The consumers' inbox markers are event ids, and user-service's embed the
            # account id (<user>:<change>); they expire (INBOX_RETENTION_DAYS).
            keys = [k async for k in cache.scan_iter(match=f"inbox:*:{user_id}:*")]
            streams = [k async for k in cache.scan_iter(match="events.*")]
            found["redis"] = await redis_traces(cache, user_id, besides=[*keys, *streams])
        finally:
            await client.close()
            await cache.aclose()
        return {k: v for k, v in found.items() if v}

    return asyncio.run(search())


def test_a_deleted_account_is_erased_everywhere(
    accounts: Accounts,
    services: ServiceProcesses,
    mongo_server: FerretDBServer,
    redis_server: RedisServer,
    db_name: str,
) -> None:
    erin, olaf = accounts.person("Erin"), accounts.person("Olaf")
    tasks = services("task-service")
    game = services("gamification-service")
    challenges = services("challenge-service")
    dbs = [f"{db_name}_{module_of(s)}" for s in SERVICES]
    # Erin plays a solo challenge and a duel with Olaf (accepted in that order: her tasks
    # count for the solo, the first she accepted; Olaf's for the duel).
    servers = (mongo_server, redis_server)
    solo = offered(servers, dbs[2], erin, "solo")
    duel = offered(servers, dbs[2], erin, "duel", olaf)
    for person, cid in ((erin, solo), (erin, duel), (olaf, duel)):
        with challenges.client(person.headers()) as api:
            accepted = api.post(f"{CHALLENGES}/{cid}/accept")
            assert accepted.status_code == 200, accepted.text
    erins_tasks = live_a_little(tasks, erin)
    olafs_tasks = live_a_little(tasks, olaf)
    wait_for(lambda: xp(game, erin) > 0 and xp(game, olaf) > 0, what="both credited")
    wait_for(lambda: on_board(game, olaf) >= {erin.id, olaf.id}, what="both on the board")

    def counted() -> bool:
        mine = challenge_of(challenges, erin, solo).json()["players"][0]["progress"]
        players = challenge_of(challenges, olaf, duel).json()["players"]
        return mine == 2 and {p["user_id"]: p["progress"] for p in players}[olaf.id] == 2

    wait_for(counted, what="both counted by challenge-service")
    assert set(traces(mongo_server, redis_server, dbs, erin.id)) == {*dbs, "redis"}
    olaf_xp = xp(game, olaf)

    deleted = erin.delete()
    assert deleted.status_code == 204, deleted.text

    # user-service announced it through its outbox, once, on events.users.
    bus = redis_client.Redis(port=redis_server.port, decode_responses=True)
    try:
        announced = [
            json.loads(f["envelope"])
            for _, f in bus.xrange("events.users")
            if json.loads(f["envelope"])["type"] == "user.deleted"
            and json.loads(f["envelope"])["user_id"] == erin.id
        ]
    finally:
        bus.close()
    assert [(e["id"], e["data"]) for e in announced] == [
        (f"{erin.id}:deleted", {"user_id": erin.id})
    ]

    # Every consumer erases: nothing of Erin anywhere, whatever the API or datastore.
    left: dict[str, Any] = {}

    def erased() -> bool:
        left.clear()
        left.update(traces(mongo_server, redis_server, dbs, erin.id))
        return not left

    try:
        wait_for(erased, what="erin erased from task-, gamification- and challenge-service")
    except AssertionError:
        raise AssertionError(f"still there: {left}") from None
    with tasks.client(erin.headers()) as api:  # her token has not expired yet
        for task_id in erins_tasks:
            assert api.get(f"{TASKS}/{task_id}").status_code == 404
        assert api.get(TASKS).json()["items"] == []
        late = api.post(TASKS, json={"title": "after the deletion"})
        assert late.status_code == 403, late.text
    assert xp(game, erin) == 0
    assert erin.id not in on_board(game, olaf)
    with challenges.client(erin.headers()) as api:
        assert api.get(CHALLENGES, params={"status": "finished"}).json() == []
        assert api.post(f"{CHALLENGES}/{duel}/abandon").status_code == 403
    assert challenge_of(challenges, erin, solo).status_code == 404  # erased whole
    # The duel is Olaf's: forfeited to him, and announced to gamification without her id.
    forfeited = challenge_of(challenges, olaf, duel).json()
    assert (forfeited["status"], forfeited["owner"], forfeited["departed"]) == (
        "completed",
        None,
        1,
    )
    assert [(s["user_id"], s["outcome"]) for s in forfeited["result"]] == [(olaf.id, "win")]
    bus = redis_client.Redis(port=redis_server.port, decode_responses=True)
    try:
        results = [
            envelope
            for _, f in bus.xrange("events.challenges")
            if (envelope := Envelope.decode(f["envelope"])).data.get("challenge_id") in (solo, duel)
        ]  # the stream is the worker's: earlier tests' challenges are on it too
    finally:
        bus.close()
    assert [(e.user_id, e.data["outcome"]) for e in results] == [(olaf.id, "win")]
    assert erin.id not in results[0].encode().decode()
    # Olaf keeps everything.
    with tasks.client(olaf.headers()) as api:
        for task_id in olafs_tasks:
            assert api.get(f"{TASKS}/{task_id}").status_code == 200
    assert xp(game, olaf) == olaf_xp
    assert olaf.id in on_board(game, olaf)
    assert not traces(mongo_server, redis_server, dbs, erin.id)
    # user-service keeps the id (references resolve to "deleted"), nothing else of hers.
    users_db = f"{accounts.processes.db}_{module_of('user-service')}"
    for detail in (erin.email, erin.name, f"{erin.name}'s task"):
        assert not traces(mongo_server, redis_server, [users_db, *dbs], detail)
