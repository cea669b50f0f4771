"""challenge-service through its HTTP API and its consumer, on real FerretDB and Redis:
progress from real events on the bus (counted once, not before acceptance, one exclusive
challenge per task), completion announced once, deadlines, duels and groups, bad input,
scopes, ai-service unreachable."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar import Litestar

from challenge_service.domain.challenges import PlayerFacts
from challenge_service.service import Challenges, offer
from deepiri_kit.contracts import agent, gamification, skills, social, tasks, users
from deepiri_kit.events import EventBus, event_envelope
from support.challenges import announce, generated, handled
from support.erasure import publish_deletion, someone
from support.streams import published
from support.tokens import TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
BASE = "/api/challenges"
RW = "challenges:read challenges:write"


async def seeded(app: Litestar, owner: str, made: agent.GeneratedChallenge, *invite: str) -> str:
    """A challenge offered through the service's own use case (as ``generate`` stores it)."""
    service: Challenges = app.state["service"]
    challenge = offer(owner, made, list(invite), datetime.now(UTC))
    assert await service.store.write(challenge, 1)
    return challenge.id


async def completed_task(
    redis: Any,
    user: str,
    task_id: str,
    *,
    at: datetime | None = None,
    tags: tuple[str, ...] = ("deep-work",),
    event_id: str | None = None,
) -> str:
    event = tasks.TaskCompleted(
        task_id=task_id,
        kind="todo",
        difficulty="easy",
        completed_at=at or datetime.now(UTC),
        tags=list(tags),
        title="Write",
    )
    envelope = event_envelope(event, source="task-service", user_id=user, event_id=event_id)
    await EventBus(redis).publish(tasks.STREAM.name, envelope)
    return envelope.id


async def befriend(redis: Any, a: str, b: str) -> None:
    envelope = event_envelope(
        social.FriendAdded(user_id=a, friend_id=b), source="user-service", user_id=a
    )
    await EventBus(redis).publish(social.STREAM.name, envelope)


async def detail(client: httpx.AsyncClient, headers: dict[str, str], cid: str) -> dict[str, Any]:
    response = await client.get(f"{BASE}/{cid}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_solo_challenge_is_progressed_by_events_once_and_completed_once(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any
) -> None:
    ann = issuer.headers("ann", RW)
    cid = await seeded(app, "ann", generated(target=2))
    [offered] = (await client.get(BASE, params={"status": "available"}, headers=ann)).json()
    assert offered["id"] == cid
    before = datetime.now(UTC) - timedelta(minutes=1)
    accepted = await client.post(f"{BASE}/{cid}/accept", headers=ann)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active"

    await completed_task(redis, "ann", "early", at=before)  # before acceptance: not counted
    await completed_task(redis, "ann", "chores", tags=("chores",))  # not the goal's tag
    first = await completed_task(redis, "ann", "t1")
    await completed_task(redis, "ann", "t1", event_id=first)  # redelivered
    await completed_task(redis, "ann", "t1")  # the same task again

    async def one_counted() -> bool:
        return bool((await detail(client, ann, cid))["players"][0]["progress"] == 1)

    await eventually(one_counted)
    assert (await detail(client, ann, cid))["status"] == "active"
    [listed] = (await client.get(BASE, params={"status": "active"}, headers=ann)).json()
    assert listed["players"][0]["progress"] == 1

    await completed_task(redis, "ann", "t2")

    async def ended() -> bool:
        # The end is claimed, then projected and announced: wait for the announcement.
        over = (await detail(client, ann, cid))["status"] == "completed"
        return over and len(await published(redis, "events.challenges")) == 1

    await eventually(ended)
    [event] = await published(redis, "events.challenges")
    assert (event.type, event.user_id) == ("challenge.completed", "ann")
    assert event.data["challenge_id"] == cid
    assert (event.data["passed"], event.data["points"], event.data["kind"]) == (True, 250, "solo")
    shown = await detail(client, ann, cid)
    assert shown["result"][0]["passed"] is True
    assert [
        c["id"] for c in (await client.get(BASE, params={"status": "finished"}, headers=ann)).json()
    ] == [cid]
    # More work after the end changes nothing and announces nothing more.
    await completed_task(redis, "ann", "t3")
    await completed_task(redis, "ann", "t4")
    await handled(redis, tasks.STREAM.name)
    assert len(await published(redis, "events.challenges")) == 1
    # Task events are their own record (remembered by event id, counted by unique keys):
    # the redelivery above was absorbed without the inbox's look-up and mark.
    assert await mongo["consumed_events"].count_documents({}) == 0


async def test_a_task_counts_for_one_exclusive_challenge_only(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    ann = issuer.headers("ann", RW)
    first = await seeded(app, "ann", generated(target=3))
    second = await seeded(app, "ann", generated(target=3))
    for cid in (first, second):
        assert (await client.post(f"{BASE}/{cid}/accept", headers=ann)).status_code == 200
    await completed_task(redis, "ann", "t1")

    async def counted_once() -> bool:
        shown = [(await detail(client, ann, c))["players"][0]["progress"] for c in (first, second)]
        return shown == [1, 0]

    await eventually(counted_once)


async def test_the_deadline_worker_expires_an_unfinished_challenge(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    ann = issuer.headers("ann", RW)
    cid = await seeded(app, "ann", generated(target=5, hours=1))
    assert (await client.post(f"{BASE}/{cid}/accept", headers=ann)).status_code == 200
    await completed_task(redis, "ann", "t1")
    service: Challenges = app.state["service"]

    async def counted() -> bool:
        return bool((await detail(client, ann, cid))["players"][0]["progress"] == 1)

    await eventually(counted)
    # An hour later: move the deadline into the past through a new link, as time would.
    challenge, seq = await service.store.head(cid)  # type: ignore[misc]
    import msgspec

    past = datetime.now(UTC) - timedelta(seconds=1)
    assert await service.store.write(msgspec.structs.replace(challenge, deadline=past), seq + 1)

    async def expired() -> bool:
        # The end is claimed, then announced: wait for the announcement.
        over = (await detail(client, ann, cid))["status"] == "expired"
        return over and len(await published(redis, "events.challenges")) == 1

    await eventually(expired)
    [event] = await published(redis, "events.challenges")
    assert (event.data["passed"], event.data["points"], event.data["progress"]) == (False, 0, 1)


async def test_a_duel_between_friends_is_won_by_the_first_to_the_goal(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    ann, bob = issuer.headers("ann", RW), issuer.headers("bob", RW)
    cid = await seeded(app, "ann", generated("duel", target=2), "bob")
    assert (await client.post(f"{BASE}/{cid}/accept", headers=ann)).json()["status"] == "available"
    [invited] = (await client.get(BASE, params={"status": "available"}, headers=bob)).json()
    assert invited["id"] == cid
    assert (await client.post(f"{BASE}/{cid}/accept", headers=bob)).json()["status"] == "active"
    for task_id in ("b1", "a1", "a2"):
        await completed_task(redis, "ann" if task_id[0] == "a" else "bob", task_id)

    async def ended() -> bool:
        # The end is claimed, then announced: wait for both players' events.
        over = (await detail(client, ann, cid))["status"] == "completed"
        return over and len(await published(redis, "events.challenges")) == 2

    await eventually(ended)
    events = {e.user_id: e.data for e in await published(redis, "events.challenges")}
    assert events["ann"]["opponent"] == {"user_id": "bob", "outcome": "win"}
    assert events["bob"]["opponent"] == {"user_id": "ann", "outcome": "loss"}
    assert (events["ann"]["passed"], events["bob"]["passed"]) == (True, False)


async def test_a_group_challenge_has_a_live_leaderboard(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    heads = {u: issuer.headers(u, RW) for u in ("ann", "bob", "cy")}
    cid = await seeded(app, "ann", generated("group", target=3), "bob", "cy")
    for user in ("bob", "cy", "ann"):
        assert (await client.post(f"{BASE}/{cid}/accept", headers=heads[user])).status_code == 200
    await completed_task(redis, "cy", "c1")
    await completed_task(redis, "cy", "c2")
    await completed_task(redis, "bob", "b1")

    async def ranked() -> bool:
        board = (await detail(client, heads["bob"], cid))["leaderboard"]
        return [(s["user_id"], s["rank"], s["progress"]) for s in board] == [
            ("cy", 1, 2),
            ("bob", 2, 1),
            ("ann", 3, 0),
        ]

    await eventually(ranked)


async def test_generating_needs_friends_and_ai_service_and_writes_nothing_without_them(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any
) -> None:
    ann = issuer.headers("ann", RW)
    stranger = await client.post(
        f"{BASE}/generate", json={"kind": "duel", "invite": ["eve"]}, headers=ann
    )
    assert stranger.status_code == 403, stranger.text
    down = await client.post(f"{BASE}/generate", json={"kind": "solo"}, headers=ann)
    assert down.status_code == 503, down.text
    assert down.headers["content-type"].startswith("application/problem+json")
    assert int(down.headers["retry-after"]) > 0
    assert await mongo["challenges"].count_documents({}) == 0
    assert await mongo["challenge_links"].count_documents({}) == 0
    # Everything else still works.
    assert (await client.get(BASE, headers=ann)).status_code == 200
    assert (await client.get("/health")).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"kind": "quiz"}, 400),
        ({"kind": "solo", "difficulty": "insane"}, 400),
        ({"kind": "solo", "owner": "bob"}, 400),
        ({"kind": "solo", "$set": {"owner": "bob"}}, 400),
        ({}, 400),
        ({"kind": "solo", "invite": ["bob"]}, 422),
        ({"kind": "duel", "invite": ["bob", "cy"]}, 422),
    ],
)
async def test_bad_input_is_a_problem_and_writes_nothing(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any, body: Any, status: int
) -> None:
    response = await client.post(f"{BASE}/generate", json=body, headers=issuer.headers("ann", RW))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await mongo["challenge_links"].count_documents({}) == 0


async def test_someone_elses_challenge_is_not_found_and_scopes_are_required(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    cid = await seeded(app, "ann", generated())
    eve = issuer.headers("eve", RW)
    assert (await client.get(f"{BASE}/{cid}", headers=eve)).status_code == 404
    assert (await client.post(f"{BASE}/{cid}/accept", headers=eve)).status_code == 404
    assert (await client.get(f"{BASE}/not-an-id", headers=eve)).status_code == 400
    assert (await client.get(BASE)).status_code == 401
    read_only = issuer.headers("ann", "challenges:read")
    assert (await client.post(f"{BASE}/{cid}/accept", headers=read_only)).status_code == 403


async def test_health_metrics_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    assert "http_server_requests_total" in (await client.get("/metrics")).text
    schema = (await client.get(f"{BASE}/schema/openapi.json")).json()
    assert f"{BASE}/generate" in schema["paths"]
    assert f"{BASE}/{{challenge_id}}/accept" in schema["paths"]


async def test_what_events_tell_about_a_player_is_what_generation_asks_with(
    app: Litestar, client: httpx.AsyncClient, redis: Any, mongo: Any
) -> None:
    service: Challenges = app.state["service"]
    assert await service.players.of("ann") == PlayerFacts()  # nothing known: level 1, UTC
    level = gamification.LevelUp(
        user_id="ann", level=12, previous_level=11, xp=11_500, xp_to_next_level=500
    )
    older = gamification.LevelUp(
        user_id="ann", level=9, previous_level=8, xp=8_100, xp_to_next_level=900
    )
    skill = skills.SkillLeveled(
        user_id="ann",
        skill_id="python",
        category="technical",
        level=4,
        previous_level=3,
        xp=3_100,
        points_granted=1,
        points=1,
    )
    leveled = await announce(redis, gamification.STREAM.name, level, "ann")
    # A late, older level never lowers the newer one.
    await announce(redis, gamification.STREAM.name, older, "ann")
    await announce(redis, skills.STREAM.name, skill, "ann")
    await announce(redis, users.STREAM.name, users.UserUpdated(time_zone="Asia/Tokyo"), "ann")
    coins = gamification.CurrencyCredited(
        user_id="ann",
        entry_key="e1",
        kind="task",
        amounts={"coins": 5},
        balances={"coins": 5},
        level=3,
    )
    credited = await announce(redis, gamification.STREAM.name, coins, "ann")
    await handled(redis, gamification.STREAM.name, skills.STREAM.name, users.STREAM.name)
    # A type the service does not act on is acknowledged without the inbox's writes.
    inbox = mongo["consumed_events"]
    assert await inbox.find_one({"_id": f"challenge-service:{leveled}"}) is not None
    assert await inbox.find_one({"_id": f"challenge-service:{credited}"}) is None
    facts = await service.players.of("ann")
    assert facts == PlayerFacts(
        level=12,
        time_zone="Asia/Tokyo",
        skills=(agent.SkillLevel(skill_id="python", level=4),),
    )
    request = await service.request_for("ann", "streak", None)
    assert (request.level, request.time_zone, request.skills) == (
        12,
        "Asia/Tokyo",
        list(facts.skills),
    )
    assert request.difficulty is None  # ai-service picks it from the level
    await announce(redis, users.STREAM.name, users.UserDeleted(user_id="ann"), "ann")
    await handled(redis, users.STREAM.name)
    assert await service.players.of("ann") == PlayerFacts()


async def test_an_older_profile_replayed_after_a_newer_one_keeps_the_newer_zone(
    app: Litestar, client: httpx.AsyncClient, redis: Any
) -> None:
    """After Redis lost the bus, user-service's guard replays what was not confirmed: an
    update the player made later may have been handled first."""
    service: Challenges = app.state["service"]
    uma, t0 = someone("uma"), datetime.now(UTC) - timedelta(hours=1)
    newer = users.UserUpdated(user_id=uma, time_zone="Europe/Paris")
    older = users.UserUpdated(user_id=uma, time_zone="Asia/Tokyo")
    await announce(redis, users.STREAM.name, newer, uma, at=t0 + timedelta(minutes=1))
    await announce(redis, users.STREAM.name, older, uma, at=t0)
    await handled(redis, users.STREAM.name)
    assert await service.players.zone_of(uma) == "Europe/Paris"
    # The same update replayed (its time to the microsecond) changes nothing either.
    await announce(redis, users.STREAM.name, newer, uma, at=t0 + timedelta(minutes=1))
    await handled(redis, users.STREAM.name)
    assert await service.players.zone_of(uma) == "Europe/Paris"


async def test_events_replayed_after_the_deletion_recreate_nothing(
    app: Litestar, client: httpx.AsyncClient, redis: Any, mongo: Any
) -> None:
    """The guard read a link just before the erasure scrubbed it: a ``user.updated`` (or a
    ``skill.leveled``, also journalled, or a late level) arrives after ``user.deleted``."""
    service: Challenges = app.state["service"]
    val, t0 = someone("val"), datetime.now(UTC) - timedelta(hours=1)
    zoned = users.UserUpdated(user_id=val, time_zone="Asia/Tokyo")
    await announce(redis, users.STREAM.name, zoned, val, at=t0)
    await handled(redis, users.STREAM.name)
    assert (await service.players.of(val)).time_zone == "Asia/Tokyo"
    await publish_deletion(redis, val)
    await handled(redis, users.STREAM.name)
    assert await service.players.of(val) == PlayerFacts()
    replayed = users.UserUpdated(user_id=val, time_zone="Europe/Paris")
    await announce(redis, users.STREAM.name, replayed, val, at=t0 + timedelta(minutes=1))
    skill = skills.SkillLeveled(
        user_id=val,
        skill_id="python",
        category="technical",
        level=2,
        previous_level=1,
        xp=1_100,
        points_granted=1,
        points=1,
    )
    await announce(redis, skills.STREAM.name, skill, val, at=t0 + timedelta(minutes=2))
    level = gamification.LevelUp(
        user_id=val, level=3, previous_level=2, xp=2_100, xp_to_next_level=900
    )
    await announce(redis, gamification.STREAM.name, level, val)
    await handled(redis, users.STREAM.name, skills.STREAM.name, gamification.STREAM.name)
    assert await service.players.of(val) == PlayerFacts()
    assert await mongo["player_facts"].count_documents({"user_id": val}) == 0
    assert await redis.xlen("dlq.challenge-service") == 0


async def test_a_streak_counts_the_players_days_in_their_time_zone(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    ann = issuer.headers("ann", RW)
    zone = ZoneInfo("Pacific/Auckland")
    await announce(redis, users.STREAM.name, users.UserUpdated(time_zone=zone.key), "ann")
    await handled(redis, users.STREAM.name)
    cid = await seeded(app, "ann", generated("streak", target=2, hours=120))
    accepted = await client.post(f"{BASE}/{cid}/accept", headers=ann)
    assert accepted.json()["players"][0]["time_zone"] == "Pacific/Auckland"
    # Half an hour either side of the next Auckland midnight: one UTC day, two days there.
    soon = datetime.now(zone) + timedelta(hours=2)
    midnight = datetime.combine(soon.date() + timedelta(days=1), time(), tzinfo=zone)
    before, after = midnight - timedelta(minutes=30), midnight + timedelta(minutes=30)
    assert before.astimezone(UTC).date() == after.astimezone(UTC).date()
    await completed_task(redis, "ann", "late", at=before.astimezone(UTC))
    await completed_task(redis, "ann", "early", at=after.astimezone(UTC))

    async def two_days() -> bool:
        shown = await detail(client, ann, cid)
        return bool(shown["status"] == "completed" and shown["players"][0]["progress"] == 2)

    await eventually(two_days)
