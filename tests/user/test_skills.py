"""Skill trees through the HTTP API and the real bus, on real FerretDB and Redis: the tree with
the caller's progress, XP from ``task.completed`` exactly once however often it is delivered,
unlock rules as 409 problems, concurrent unlocks spending points once (one process and two),
Idempotency-Key replays, and a bad definitions file refusing to start."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from deepiri_kit import Platform, load_settings
from deepiri_kit.contracts import skills as skill_events
from deepiri_kit.contracts import tasks as task_events
from deepiri_kit.events import EventBus
from support.servers import OwnServers
from support.streams import published
from support.tokens import TokenIssuer
from support.users import PREFIX, register, task_completed
from support.waiting import eventually
from user_service.app import build, create_app
from user_service.domain.skills import TreeError
from user_service.service.wiring import Services
from user_service.settings import UserSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
SKILLS = f"{PREFIX}/skills"
RW = "users:read users:write"
TASKS = task_events.STREAM.name


def services_of(app: Litestar) -> Services:
    return Services(
        accounts=app.state.accounts,
        sessions=app.state.sessions,
        provider=app.state.provider,
        skills=app.state.skills,
        social=app.state.social,
        activity=app.state.activity,
    )


async def xp(client: httpx.AsyncClient, headers: dict[str, str], skill_id: str) -> int:
    got = await client.get(f"{SKILLS}/{skill_id}", headers=headers)
    assert got.status_code == 200, got.text
    value: int = got.json()["xp"]
    return value


async def skill_events_of(redis: Any, event_type: str) -> list[Any]:
    events = await published(redis, skill_events.STREAM.name, event_type)
    for event in events:
        skill_events.STREAM.decode(event)  # every event matches its contract
    return events


async def level_up(app: Litestar, user: str, skill_id: str, points: int) -> None:
    """Grant ``points`` points: a level of ``skill_id`` per point, from habit taps (200 XP
    each for a hard one, 5 taps a level)."""
    skills = app.state.skills
    for _ in range(5 * points):
        event = task_completed(user, kind="habit", skill_ids=[skill_id], event_id=uuid.uuid4().hex)
        await skills.on_task_completed(event.id, user, task_events.TaskCompleted.decode(event))
    assert (await skills.progress(user)).points == points


async def test_the_tree_with_a_new_users_progress(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    me = issuer.headers("alice", RW)
    tree = (await client.get(SKILLS, headers=me)).json()
    assert (tree["points"], tree["points_granted"], tree["unlocked"]) == (0, 0, 0)
    assert len(tree["categories"]) == 6
    skills = [s for c in tree["categories"] for s in c["skills"]]
    assert len(skills) == 22
    assert {(s["xp"], s["level"], s["xp_to_next_level"], s["unlocked"]) for s in skills} == {
        (0, 1, 1000, False)
    }
    debugging = (await client.get(f"{SKILLS}/debugging", headers=me)).json()
    assert (debugging["category"], debugging["missing"]) == ("technical", ["programming"])

    unknown = await client.get(f"{SKILLS}/ghost", headers=me)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(SKILLS)).status_code == 401
    service = issuer.headers("svc", RW, client_id="svc")
    assert (await client.get(SKILLS, headers=service)).status_code == 403
    read_only = issuer.headers("alice", "users:read")
    assert (await client.post(f"{SKILLS}/focus/unlock", headers=read_only)).status_code == 403


async def test_task_completed_trains_skills_once_however_often_delivered(
    app: Litestar, client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    me = issuer.headers("alice", RW)
    bus = EventBus(redis)
    first = task_completed("alice", task_id="t1", tags=["Coding", "bug"], event_id="e1")
    await bus.publish(TASKS, first)
    await eventually(lambda: _has_xp(client, me, "debugging"))
    assert (await xp(client, me, "programming"), await xp(client, me, "debugging")) == (100, 100)

    # Redelivered as it is (the inbox drops it) and after the inbox forgot it (a crash
    # between handling and marking): the skill log's change key refuses a second change.
    await bus.publish(TASKS, first)
    await redis.delete(f"inbox:user-service:{first.id}")
    await bus.publish(TASKS, first)
    # The same todo completed again under a new event (reopened, completed): no new XP.
    await bus.publish(TASKS, task_completed("alice", task_id="t1", tags=["code"], event_id="e2"))
    # Skill ids win over tags; an unknown skill id is ignored.
    last = task_completed("alice", task_id="t2", skill_ids=["ghost", "writing"], tags=["code"])
    await bus.publish(TASKS, last)
    await eventually(lambda: _has_xp(client, me, "writing"))
    assert await xp(client, me, "programming") == 100
    assert await xp(client, me, "writing") == 200
    log = app.state.skills.store.links
    assert await log.count_documents({"user_id": "alice"}) == 2


async def _has_xp(client: httpx.AsyncClient, headers: dict[str, str], skill_id: str) -> bool:
    return await xp(client, headers, skill_id) > 0


async def test_level_ups_grant_points_and_announce_themselves(
    app: Litestar, client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    await level_up(app, "bob", "programming", 2)
    me = issuer.headers("bob", RW)
    programming = (await client.get(f"{SKILLS}/programming", headers=me)).json()
    assert (programming["xp"], programming["level"], programming["unlockable"]) == (2000, 3, True)
    assert (await client.get(SKILLS, headers=me)).json()["points_granted"] == 2
    await eventually(lambda: _count(redis, "skill.leveled", 2))
    leveled = await skill_events_of(redis, "skill.leveled")
    assert [(e.user_id, e.data["level"], e.data["points"]) for e in leveled] == [
        ("bob", 2, 1),
        ("bob", 3, 2),
    ]
    assert len({e.id for e in leveled}) == 2


async def _count(redis: Any, event_type: str, n: int) -> bool:
    return len(await skill_events_of(redis, event_type)) >= n


async def test_unlock_rules_are_409_problems_and_change_nothing(
    app: Litestar, client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    me = issuer.headers("carol", RW)
    poor = await client.post(f"{SKILLS}/programming/unlock", headers=me)
    assert poor.status_code == 409, poor.text
    assert poor.headers["content-type"].startswith("application/problem+json")
    assert (poor.json()["needed"], poor.json()["available"]) == (1, 0)

    await level_up(app, "carol", "programming", 3)
    blocked = await client.post(f"{SKILLS}/system-design/unlock", headers=me)
    assert blocked.status_code == 409
    assert blocked.json()["missing"] == ["debugging", "devops"]
    assert "'debugging', 'devops'" in blocked.json()["detail"]
    assert (await client.post(f"{SKILLS}/ghost/unlock", headers=me)).status_code == 404

    done = await client.post(f"{SKILLS}/programming/unlock", headers=me)
    assert done.status_code == 200, done.text
    assert (done.json()["points"], done.json()["skill"]["unlocked"]) == (2, True)
    again = await client.post(f"{SKILLS}/programming/unlock", headers=me)
    assert again.status_code == 409
    assert "unlocked already" in again.json()["detail"]
    debugging = await client.post(f"{SKILLS}/debugging/unlock", headers=me)
    assert debugging.json()["points"] == 0
    tree = (await client.get(SKILLS, headers=me)).json()
    assert (tree["points"], tree["points_granted"], tree["unlocked"]) == (0, 3, 2)
    await eventually(lambda: _count(redis, "skill.unlocked", 2))
    unlocked = await skill_events_of(redis, "skill.unlocked")
    assert [(e.data["skill_id"], e.data["cost"], e.data["points"]) for e in unlocked] == [
        ("programming", 1, 2),
        ("debugging", 2, 0),
    ]


async def test_concurrent_unlocks_spend_points_once(
    app: Litestar, client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    await level_up(app, "dave", "focus", 1)
    me = issuer.headers("dave", RW)
    roots = ["focus", "programming", "writing", "design", "reading", "languages"]
    answers = await asyncio.gather(
        *(client.post(f"{SKILLS}/{s}/unlock", headers=me) for s in roots * 2)
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 11
    tree = (await client.get(SKILLS, headers=me)).json()
    assert (tree["points"], tree["unlocked"]) == (0, 1)
    await eventually(lambda: _count(redis, "skill.unlocked", 1))
    assert len(await skill_events_of(redis, "skill.unlocked")) == 1


@contextlib.asynccontextmanager
async def second_process(settings: UserSettings) -> AsyncIterator[Services]:
    """Another replica: its own MongoDB and Redis clients and its own head cache."""
    platform = await Platform.open(settings)
    try:
        yield await build(platform)
    finally:
        await platform.close()


async def test_two_replicas_racing_unlocks_and_deliveries(
    app: Litestar, user_settings: UserSettings, redis: Any
) -> None:
    here = services_of(app).skills
    await level_up(app, "erin", "writing", 2)
    async with second_process(user_settings) as other:
        await other.skills.progress("erin")  # the other replica caches erin's head now
        duplicate = task_completed("erin", kind="daily", task_id="d1", tags=["blog"], event_id="x")
        completed = task_events.TaskCompleted.decode(duplicate)
        calls: list[Any] = [
            s.unlock("erin", skill) for s in (here, other.skills) for skill in ("writing", "design")
        ]
        calls += [
            s.on_task_completed(duplicate.id, "erin", completed) for s in (here, other.skills) * 3
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
    unlocked = [r for r in results[:4] if not isinstance(r, BaseException)]
    assert len(unlocked) == 2  # two points: writing and design, each once
    progress = await here.progress("erin")
    assert sorted(progress.unlocked) == ["design", "writing"]
    assert (progress.points, progress.granted) == (0, 2)
    assert progress.xp["writing"] == 2000 + 200  # the daily's XP once
    await eventually(lambda: _count(redis, "skill.unlocked", 2))
    assert len(await skill_events_of(redis, "skill.unlocked")) == 2


async def test_an_idempotency_key_replays_the_unlock(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    await level_up(app, "fay", "reading", 1)
    keyed = {**issuer.headers("fay", RW), "Idempotency-Key": "unlock-reading-1"}
    first = await client.post(f"{SKILLS}/reading/unlock", headers=keyed)
    second = await client.post(f"{SKILLS}/reading/unlock", headers=keyed)
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    stamped = await app.state.skills.store.links.count_documents(
        {"user_id": "fay", "kind": "unlock", "idempotency_key": {"$exists": True}}
    )
    assert stamped == 1


async def test_deleting_the_account_erases_its_skill_progress(
    app: Litestar, client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    user_id = await register(client, redis)
    await level_up(app, user_id, "design", 1)
    await level_up(app, "someone-else", "design", 1)
    me = issuer.headers(user_id, RW)
    assert (await client.post(f"{SKILLS}/design/unlock", headers=me)).status_code == 200
    assert (await client.delete(f"{PREFIX}/me", headers=me)).status_code == 204
    log = app.state.skills.store.links
    assert await log.count_documents({"user_id": user_id}) == 0
    assert await log.count_documents({"user_id": "someone-else"}) == 5
    assert (await app.state.skills.progress(user_id)).xp == {}


async def test_openapi_declares_the_routes_and_their_problems(client: httpx.AsyncClient) -> None:
    paths = (await client.get(f"{PREFIX}/schema/openapi.json")).json()["paths"]
    unlock = paths[f"{SKILLS}/{{skill_id}}/unlock"]["post"]
    assert {"200", "401", "403", "404", "409"} <= set(unlock["responses"])
    assert "application/problem+json" in unlock["responses"]["409"]["content"]
    assert {"200", "404"} <= set(paths[f"{SKILLS}/{{skill_id}}"]["get"]["responses"])
    assert "200" in paths[SKILLS]["get"]["responses"]


def test_a_bad_definitions_file_refuses_to_start(tmp_path: Path, service_env: Any) -> None:
    bad = tmp_path / "skills.json"
    bad.write_text(
        json.dumps(
            {
                "categories": [
                    {
                        "id": "c",
                        "name": "C",
                        "skills": [
                            {"id": "a", "name": "A", "requires": ["b"]},
                            {"id": "b", "name": "B", "requires": ["a"]},
                        ],
                    }
                ]
            }
        )
    )
    settings = load_settings(UserSettings, {}, **service_env, skill_tree_file=str(bad))
    with pytest.raises(TreeError, match="prerequisite cycle a -> b -> a"):
        create_app(settings)
    missing = load_settings(UserSettings, {}, **service_env, skill_tree_file=str(tmp_path / "no"))
    with pytest.raises(TreeError, match="cannot read"):
        create_app(missing)


async def test_skill_events_a_lost_redis_dropped_are_published_again(
    own_servers: OwnServers, user_settings: UserSettings, mongo: Any
) -> None:
    """The bus guard covers the skill log: a level reached is on ``events.skills`` again, under
    its own id, after Redis died and came back without its data."""
    own = own_servers.redis  # killed and wiped: nobody else's
    settings = dataclasses.replace(
        user_settings, redis_port=own.port, bus_guard_interval_seconds=0.2, consumer_block_ms=100
    )
    bus = Redis(host="127.0.0.1", port=own.port, decode_responses=True)
    app = create_app(settings)
    stream = skill_events.STREAM.name
    async with app.lifespan():

        async def guarded() -> bool:  # the guard has noted which Redis this is
            return await mongo["bus_checkpoints"].find_one({"_id": stream}) is not None

        await eventually(guarded)
        await level_up(app, "lost-bus-learner", "focus", 1)
        before = [e.id for e in await published(bus, stream, skill_events.SKILL_LEVELED)]
        assert len(before) == 1
        own.kill()
        own.wipe()
        own.start()

        async def back() -> bool:
            found = await published(bus, stream, skill_events.SKILL_LEVELED)
            return bool(found) and {e.id for e in found} == set(before)

        await eventually(back, timeout=30)
    await bus.aclose()
