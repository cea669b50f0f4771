"""A deleted account in challenge-service (``user.deleted`` through the app's own consumer,
on real FerretDB and Redis): nothing of the person is left in any collection or key — their
solo and streak challenges, offers and invitations go whole; in the challenges they shared
the others play on without them (a running duel forfeited to the opponent, a group ranking
only who is left, an ended one keeping the others' result) — and nothing brings anything of
them back: late or replayed events, a request with an old token, a count racing the
erasure, the deadline ending a challenge they left, a sweep delivering an end decided before.

The search for what is left is a scan of every collection and key for the user id
(``support.erasure``), so a store added later and forgotten by the erasure fails it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from challenge_service.domain import challenges as rules
from challenge_service.events import publish
from challenge_service.service import Challenges, offer
from challenge_service.store.challenges import ChallengeStore, Progress
from challenge_service.store.players import PlayerFactsStore
from challenge_service.store.recent import RecentTasks
from challenge_service.store.running import RunningIndex
from deepiri_kit import Forbidden, Upstream
from deepiri_kit.chain import OUTBOX
from deepiri_kit.contracts import agent, gamification, skills, social, tasks, users
from deepiri_kit.events import Envelope, EventBus, outbox_entry
from infra import free_port
from support.challenges import announce, generated, handled
from support.erasure import mongo_traces, publish_deletion, redis_traces, someone
from support.streams import published
from support.tokens import TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

BASE = "/api/challenges"
RW = "challenges:read challenges:write"
TOMBSTONES = "erased_users"  # the tombstone is meant to stay
# The consumer's inbox marks handled event ids, and user-service's embed the account id
# (``<user>:deleted``): they expire (14 days), like the Redis inbox keys
# tests/system/test_account_deletion.py leaves out.
INBOX = "consumed_events"
CHALLENGES = "events.challenges"


async def seeded(
    service: Challenges, owner: str, generated: agent.GeneratedChallenge, *invite: str
) -> str:
    """An offer stored as ``generate`` stores it (ai-service is not part of this)."""
    challenge = offer(owner, generated, list(invite), datetime.now(UTC))
    assert await service.store.write(challenge, 1)
    return challenge.id


async def completed(
    redis: Any, user: str, task_id: str, *tags: str, event_id: str | None = None
) -> str:
    event = tasks.TaskCompleted(
        task_id=task_id,
        kind="todo",
        difficulty="easy",
        completed_at=datetime.now(UTC),
        tags=list(tags),
        title=f"{user}'s task",
    )
    return await announce(redis, tasks.STREAM.name, event, user, event_id=event_id)


async def traces(mongo: Any, redis: Any, user_id: str) -> dict[str, Any]:
    """Everywhere ``user_id`` still appears: collections (the tombstone and the inbox
    aside), and Redis keys besides the event streams (the bus keeps an entry until the
    stream is trimmed; what is published after the deletion is checked apart)."""
    found: dict[str, Any] = await mongo_traces(mongo, user_id, besides=[TOMBSTONES, INBOX])
    streams = [k async for k in redis.scan_iter(match="events.*")]
    if keys := await redis_traces(redis, user_id, besides=[*streams, "dlq.challenge-service"]):
        found["redis"] = keys
    return found


async def announced_since(redis: Any, after: str) -> list[Envelope]:
    """``challenge.completed`` events published after stream id ``after``."""
    entries = await redis.xrange(CHALLENGES, min=f"({after}") if after else []
    return [Envelope.decode(fields["envelope"]) for _, fields in entries]


async def stream_end(redis: Any) -> str:
    last = await redis.xrevrange(CHALLENGES, count=1)
    return str(last[0][0]) if last else "0-0"


async def show(client: httpx.AsyncClient, headers: dict[str, str], cid: str) -> dict[str, Any]:
    response = await client.get(f"{BASE}/{cid}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


class World:
    """Xena, Yann and Zoe, friends, with everything challenge-service keeps of a player:
    Xena's solo and streak (counted, the streak's task claimed apart), a duel Xena-Yann and
    a group of Yann's with Xena and Zoe (running, everyone counted), a duel Zoe won against
    Xena (ended and announced), and Xena's open duel offer to Zoe."""

    def __init__(self, service: Challenges, issuer: TokenIssuer) -> None:
        self.service = service
        self.x, self.y, self.z = someone("xena"), someone("yann"), someone("zoe")
        self.h = {u: issuer.headers(u, RW) for u in (self.x, self.y, self.z)}
        self.ids: dict[str, str] = {}

    async def build(self, client: httpx.AsyncClient, redis: Any) -> None:
        x, y, z, s = self.x, self.y, self.z, self.service
        for a, b in ((x, y), (x, z), (y, z)):
            friends = social.FriendAdded(user_id=a, friend_id=b)
            await announce(redis, social.STREAM.name, friends, a)
        zoned = users.UserUpdated(user_id=x, time_zone="Asia/Tokyo")
        await announce(redis, users.STREAM.name, zoned, x)
        self.ids = {
            "won": await seeded(s, z, generated("duel", 1, tag="won-work"), x),
            "solo": await seeded(s, x, generated("solo", 3, tag="solo-work")),
            "duel": await seeded(s, x, generated("duel", 3, tag="duel-work"), y),
            "group": await seeded(s, y, generated("group", 3, tag="group-work"), x, z),
            "streak": await seeded(s, x, generated("streak", 3, tag="any")),
            "offer": await seeded(s, x, generated("duel", 3, tag="offer-work"), z),
        }
        # Accepted in this order: a task claims the earliest accepted challenge it serves.
        for name, who in (
            ("won", (z, x)),
            ("solo", (x,)),
            ("duel", (x, y)),
            ("group", (x, z, y)),
            ("streak", (x,)),
        ):
            for user in who:
                accepted = await client.post(
                    f"{BASE}/{self.ids[name]}/accept", headers=self.h[user]
                )
                assert accepted.status_code == 200, accepted.text
        await completed(redis, z, "z-won", "won-work")  # Zoe wins at once
        for task, tag in (
            ("x-solo", "solo-work"),
            ("x-duel", "duel-work"),
            ("x-group", "group-work"),
        ):
            await completed(redis, x, task, tag)
        await completed(redis, x, "x-any")  # only the streak counts an untagged task
        await completed(redis, y, "y-duel", "duel-work")
        await completed(redis, y, "y-group", "group-work")
        await completed(redis, z, "z-group", "group-work")
        await handled(redis, tasks.STREAM.name, social.STREAM.name, users.STREAM.name)

        async def won() -> bool:
            return len(await published(redis, CHALLENGES)) == 2

        await eventually(won)


async def test_a_deleted_account_leaves_nothing_and_the_others_play_on(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any
) -> None:
    service: Challenges = app.state["service"]
    world = World(service, issuer)
    await world.build(client, redis)
    x, y, z, ids = world.x, world.y, world.z, world.ids
    held = await traces(mongo, redis, x)
    assert {"challenge_links", "challenges", "progress_links"} <= set(held), held
    assert {"recent_tasks", "player_facts", "friendships", "redis"} <= set(held), held
    for name, value in (("solo", 1), ("streak", 1), ("duel", 1), ("group", 1)):
        assert (await service.store.progress(ids[name], x))[0].value == value, name
    before = await stream_end(redis)

    await publish_deletion(redis, x)
    await handled(redis, users.STREAM.name)

    assert await traces(mongo, redis, x) == {}
    # Only Xena had played these (or an offer of hers): gone whole, for everyone.
    for name in ("solo", "streak", "offer"):
        assert await service.store.head(ids[name]) is None, name
    assert (await client.get(f"{BASE}/{ids['offer']}", headers=world.h[z])).status_code == 404
    # The running duel is forfeited to Yann: won, not passed (he had 1 of 3).
    duel = await show(client, world.h[y], ids["duel"])
    assert (duel["status"], duel["owner"], duel["departed"]) == ("completed", None, 1)
    assert [p["user_id"] for p in duel["players"]] == [y]
    assert [(s["user_id"], s["rank"], s["outcome"], s["passed"]) for s in duel["result"]] == [
        (y, 1, "win", False)
    ]
    [paid] = await announced_since(redis, before)
    assert (paid.user_id, paid.data["challenge_id"]) == (y, ids["duel"])
    assert paid.data["outcome"] == "win"
    assert paid.data.get("opponent") is None
    assert (paid.data["passed"], paid.data["points"], paid.data["progress"]) == (False, 0, 1)
    # The group goes on for Yann and Zoe, their counts untouched.
    group = await show(client, world.h[z], ids["group"])
    assert (group["status"], group["owner"], group["departed"]) == ("active", y, 1)
    assert {p["user_id"]: p["progress"] for p in group["players"]} == {y: 1, z: 1}
    # Zoe keeps her win, without the name of whom she beat.
    won = await show(client, world.h[z], ids["won"])
    assert (won["status"], won["departed"]) == ("completed", 1)
    assert [(s["user_id"], s["outcome"]) for s in won["result"]] == [(z, "win")]
    # Xena's token, issued before the deletion, finds nothing and makes nothing.
    listed = await client.get(BASE, params={"status": "finished"}, headers=world.h[x])
    assert listed.json() == []
    made_late = await client.post(f"{BASE}/generate", json={"kind": "solo"}, headers=world.h[x])
    assert made_late.status_code == 403, made_late.text
    # A redelivered deletion finds nothing more to do.
    await publish_deletion(redis, x, event_id=f"{x}:deleted-again")
    await handled(redis, users.STREAM.name)
    assert await traces(mongo, redis, x) == {}
    assert await redis.xlen("dlq.challenge-service") == 0


async def test_events_and_requests_after_the_deletion_bring_nothing_back(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any
) -> None:
    service: Challenges = app.state["service"]
    world = World(service, issuer)
    await world.build(client, redis)
    x, y, ids = world.x, world.y, world.ids
    first = await completed(redis, x, "x-late-1", "group-work")  # before the deletion
    await handled(redis, tasks.STREAM.name)
    await publish_deletion(redis, x)
    await handled(redis, users.STREAM.name)
    before = await stream_end(redis)

    # Replayed and late: the same completion again, new ones for every goal, a skill level,
    # a level, a profile, a friendship; and the old token accepting, abandoning.
    await completed(redis, x, "x-late-1", "group-work", event_id=first)
    for task, tag in (("x-late-2", "group-work"), ("x-late-3", "solo-work"), ("x-late-4", "")):
        await completed(redis, x, task, *([tag] if tag else []))
    await handled(redis, tasks.STREAM.name)
    assert await traces(mongo, redis, x) == {}  # each of them on its own
    leveled = skills.SkillLeveled(
        user_id=x,
        skill_id="python",
        category="technical",
        level=3,
        previous_level=2,
        xp=2_100,
        points_granted=1,
        points=1,
    )
    await announce(redis, skills.STREAM.name, leveled, x)
    level = gamification.LevelUp(
        user_id=x, level=5, previous_level=4, xp=4_100, xp_to_next_level=900
    )
    await announce(redis, gamification.STREAM.name, level, x)
    await announce(
        redis, users.STREAM.name, users.UserUpdated(user_id=x, time_zone="Europe/Oslo"), x
    )
    await announce(redis, social.STREAM.name, social.FriendAdded(user_id=y, friend_id=x), y)
    for move in ("accept", "abandon", "decline"):
        late = await client.post(f"{BASE}/{ids['group']}/{move}", headers=world.h[x])
        assert late.status_code == 403, late.text
    await handled(
        redis,
        tasks.STREAM.name,
        skills.STREAM.name,
        gamification.STREAM.name,
        users.STREAM.name,
        social.STREAM.name,
    )

    assert await traces(mongo, redis, x) == {}
    assert all(x not in e.encode().decode() for e in await announced_since(redis, before))
    group = await show(client, world.h[y], ids["group"])
    assert {p["user_id"]: p["progress"] for p in group["players"]} == {y: 1, world.z: 1}
    assert await redis.xlen("dlq.challenge-service") == 0


async def test_a_group_ended_by_its_deadline_after_the_erasure_credits_only_the_others(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any
) -> None:
    service: Challenges = app.state["service"]
    x, y, z = someone("xena"), someone("yann"), someone("zoe")
    h = {u: issuer.headers(u, RW) for u in (x, y, z)}
    for a, b in ((x, y), (x, z), (y, z)):
        await announce(redis, social.STREAM.name, social.FriendAdded(user_id=a, friend_id=b), a)
    await handled(redis, social.STREAM.name)
    cid = await seeded(service, x, generated("group", 2, tag="group-work"), y, z)
    for user in (y, z, x):
        assert (await client.post(f"{BASE}/{cid}/accept", headers=h[user])).status_code == 200
    # Xena reaches the goal first; Yann gets there after, Zoe half-way.
    for user, task in ((x, "x1"), (x, "x2"), (y, "y1"), (z, "z1")):
        await completed(redis, user, task, "group-work")
    await handled(redis, tasks.STREAM.name)
    assert (await service.store.progress(cid, x))[0].value == 2

    await publish_deletion(redis, x)
    await handled(redis, users.STREAM.name)
    await completed(redis, y, "y2", "group-work")  # Yann reaches it: Zoe still plays
    await handled(redis, tasks.STREAM.name)
    assert (await show(client, h[y], cid))["status"] == "active"
    # The deadline passes (a new link, as time would): the deadline worker ends it.
    challenge, seq = await service.store.head(cid)  # type: ignore[misc]
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert await service.store.write(msgspec.structs.replace(challenge, deadline=past), seq + 1)

    async def announced() -> bool:
        return len(await published(redis, CHALLENGES)) == 2

    await eventually(announced)
    events = {e.user_id: e.data for e in await published(redis, CHALLENGES)}
    assert set(events) == {y, z}
    assert (events[y]["passed"], events[y]["points"], events[z]["points"]) == (True, 250, 0)
    for data in events.values():
        assert [(s["user_id"], s["rank"]) for s in data["ranking"]] == [(y, 1), (z, 2)]
    assert all(x not in e.encode().decode() for e in await published(redis, CHALLENGES))
    assert await traces(mongo, redis, x) == {}


# --- races, on the service's own parts -----------------------------------------------------


def replica(db: Any, redis: Any, http: httpx.AsyncClient, store: ChallengeStore) -> Challenges:
    closed = Upstream("closed", f"http://127.0.0.1:{free_port()}", http, timeout=1.0)
    from challenge_service.store.agent import Agent, TokenSource

    nowhere = Agent(closed, TokenSource(closed, "/token", "challenge-service", "secret"))
    players = PlayerFactsStore(db["player_facts"])
    return Challenges(store, nowhere, RecentTasks(db["recent_tasks"]), RunningIndex(redis), players)


class ErasedWhileCounting(ChallengeStore):
    """The real store, the player's whole erasure (another replica handling
    ``user.deleted``) running just before each count lands: the worst interleaving of a
    progress event that read the player's challenges before the erasure began."""

    service: Challenges

    async def count(
        self,
        challenge_id: str,
        user_id: str,
        seq: int,
        progress: Progress,
        counted: str,
        *,
        claim: str | None = None,
    ) -> bool | None:
        await self.service.on_user_deleted(user_id)
        return await super().count(challenge_id, user_id, seq, progress, counted, claim=claim)


async def test_a_count_racing_the_erasure_leaves_nothing(mongo: Any, redis: Any) -> None:
    async with httpx.AsyncClient() as http:
        store = ErasedWhileCounting(mongo, EventBus(redis))
        service = replica(mongo, redis, http, store)
        store.service = service
        await store.ensure_indexes()
        x, y = someone("xena"), someone("yann")
        solo = await seeded(service, x, generated("solo", 3, tag="work"))
        duel = await seeded(service, x, generated("duel", 3, tag="work"), y)
        for cid, who in ((solo, (x,)), (duel, (x, y))):
            for user in who:
                await service.accept(user, cid)
        event = tasks.TaskCompleted(
            task_id="t1",
            kind="todo",
            difficulty="easy",
            completed_at=datetime.now(UTC),
            tags=["work"],
            title="racing",
        )

        await service.on_task_completed(x, "e1", event)

        assert await traces(mongo, redis, x) == {}
        assert await service.store.head(solo) is None
        forfeited, _ = await service.store.head(duel)  # type: ignore[misc]
        assert (forfeited.status, forfeited.departed) == ("completed", 1)
        assert [s.user_id for s in forfeited.result or ()] == [y]


class ErasedWhileAccepting(RunningIndex):
    """The real index, the player's whole erasure running just before an accept indexes
    the challenge: a request with an old token that passed its tombstone check."""

    service: Challenges

    async def add(self, user_id: str, challenge_id: str) -> None:
        await self.service.on_user_deleted(user_id)
        await super().add(user_id, challenge_id)


async def test_an_accept_racing_the_erasure_is_refused_and_leaves_nothing(
    mongo: Any, redis: Any
) -> None:
    async with httpx.AsyncClient() as http:
        store = ChallengeStore(mongo, EventBus(redis))
        service = replica(mongo, redis, http, store)
        running = ErasedWhileAccepting(redis)
        running.service = service
        service.running = running
        await store.ensure_indexes()
        x = someone("xena")
        cid = await seeded(service, x, generated("solo", 3, tag="work"))

        with pytest.raises(Forbidden):
            await service.accept(x, cid)

        assert await traces(mongo, redis, x) == {}
        assert await service.store.head(cid) is None


async def test_an_end_not_yet_delivered_announces_only_the_others(mongo: Any, redis: Any) -> None:
    """The group ended just before the erasure and its events wait for the sweep (their
    writer died): the erasure rewrites them, so the sweep pays the others as the result
    was decided and names nobody erased."""
    async with httpx.AsyncClient() as http:
        service = replica(mongo, redis, http, ChallengeStore(mongo, EventBus(redis)))
        await service.store.ensure_indexes()
        x, y, z = someone("xena"), someone("yann"), someone("zoe")
        cid = await seeded(service, x, generated("group", 1, tag="work"), y, z)
        for user in (y, z, x):
            await service.accept(user, cid)
        challenge, seq = await service.store.head(cid)  # type: ignore[misc]
        now = datetime.now(UTC)
        first = Progress(value=1, reached_at=now - timedelta(minutes=2))
        second = Progress(value=1, reached_at=now - timedelta(minutes=1))
        ended = rules.conclude(challenge, {x: first, y: second}, now)
        assert [(s.user_id, s.rank) for s in ended.result or ()] == [(x, 1), (y, 2), (z, 3)]
        entries = [
            outbox_entry(publish.STREAM.name, publish.completed(u, e))
            for u, e in rules.announcements(ended)
        ]
        # Claimed and projected, never delivered: what a writer dying after its insert leaves.
        link = await service.store.log.claim(
            f"ch:{cid}", seq + 1, {"state": to_doc(ended)}, outbox=entries
        )
        assert link is not None

        await service.on_user_deleted(x)

        assert await traces(mongo, redis, x) == {}
        await service.store.log.sweep()
        events = {e.user_id: e.data for e in await published(redis, CHALLENGES)}
        assert set(events) == {y, z}
        # The result stands as decided (Yann second, Zoe third), without Xena.
        assert [(s["user_id"], s["rank"]) for s in events[y]["ranking"]] == [(y, 2), (z, 3)]
        assert (events[y]["points"], events[z]["points"]) == (250, 0)
        stored = await mongo["challenge_links"].find_one({OUTBOX: {"$exists": True}})
        assert stored is not None
        assert x not in str(stored)


def to_doc(challenge: rules.Challenge) -> dict[str, Any]:
    return msgspec.to_builtins(challenge, builtin_types=(datetime,))  # type: ignore[no-any-return]
