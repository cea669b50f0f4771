"""The progress path's cost and its index, on real FerretDB and Redis: one event reads only
the player's running challenges (never the whole read model), in a fixed number of MongoDB
commands whatever the number of other challenges (counted by pymongo's CommandListener);
the running index never misses a challenge — rebuilt when Redis lost it, an entry left by a
crash dropped by the next event — so nothing is counted twice or lost."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient, monitoring

from challenge_service.service import Challenges, offer
from challenge_service.store.agent import Agent, TokenSource
from challenge_service.store.challenges import ChallengeStore
from challenge_service.store.players import PlayerFactsStore
from challenge_service.store.recent import RecentTasks
from challenge_service.store.running import MARKER, RunningIndex, running_key
from deepiri_kit import Upstream
from deepiri_kit.contracts import agent, tasks
from deepiri_kit.events import EventBus
from infra import FerretDBServer, free_port
from support.challenges import generated

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


class Commands(monitoring.CommandListener):
    """Every command the client sends, as ``(command, collection)``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.seen.append((event.command_name, target if isinstance(target, str) else ""))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


@pytest.fixture
async def counted(mongo_server: FerretDBServer, db_name: str, redis: Any) -> Any:
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_server.uri, tz_aware=True, event_listeners=[commands]
    )
    http = httpx.AsyncClient()
    service = await replica(client[db_name], redis, http)
    yield service, commands
    await http.aclose()
    await client.drop_database(db_name)
    await client.close()


async def replica(db: Any, redis: Any, http: httpx.AsyncClient) -> Challenges:
    """The service's use cases as one process builds them (its own caches)."""
    store = ChallengeStore(db, EventBus(redis))
    recent = RecentTasks(db["recent_tasks"])
    await store.ensure_indexes()
    await recent.ensure_indexes()
    # Generation is not exercised here: ai-service and the token endpoint are a closed port.
    closed = Upstream("closed", f"http://127.0.0.1:{free_port()}", http, timeout=1.0)
    nowhere = Agent(closed, TokenSource(closed, "/token", "challenge-service", "secret"))
    players = PlayerFactsStore(db["player_facts"])
    return Challenges(store, nowhere, recent, RunningIndex(redis), players)


def solo(target: int = 50, kind: agent.ChallengeKind = "solo") -> agent.GeneratedChallenge:
    return generated(kind, 2 if kind == "streak" else target, tag=None)


async def playing(
    service: Challenges, user: str, target: int = 50, kind: agent.ChallengeKind = "solo"
) -> str:
    challenge = offer(user, solo(target, kind), [], datetime.now(UTC))
    assert await service.store.write(challenge, 1)
    accepted = await service.accept(user, challenge.id)
    assert accepted.status == "active"
    return challenge.id


async def complete(
    service: Challenges,
    user: str,
    task_id: str | None = None,
    *,
    event_id: str | None = None,
    at: datetime | None = None,
) -> str:
    event_id = event_id or uuid.uuid4().hex
    event = tasks.TaskCompleted(
        task_id=task_id or uuid.uuid4().hex[:24],
        kind="todo",
        difficulty="easy",
        completed_at=at or datetime.now(UTC),
        tags=[],
        title="Write",
    )
    await service.on_task_completed(user, event_id, event)
    return event_id


async def progress_of(service: Challenges, cid: str, user: str) -> int:
    return (await service.store.progress(cid, user))[0].value


async def test_an_event_costs_the_same_few_commands_however_many_challenges_exist(
    counted: Any,
) -> None:
    service, commands = counted
    cid = await playing(service, "ann")
    await complete(service, "ann")  # the first count of a progress chain reads its head

    commands.seen.clear()
    await complete(service, "ann")
    alone = Counter(commands.seen)
    for n in range(40):  # other players' challenges, running and offered
        await playing(service, f"other-{n}")
        other = offer(f"other-{n}", solo(), [], datetime.now(UTC))
        assert await service.store.write(other, 1)
    commands.seen.clear()
    await complete(service, "ann")
    crowded = Counter(commands.seen)

    print(f"MongoDB commands per progress event: {sum(crowded.values())} {dict(crowded)}")
    assert crowded == alone
    assert crowded == Counter(
        {
            ("insert", "recent_tasks"): 1,  # remembered for generation
            ("find", "challenge_links"): 1,  # is the cached head still the head?
            # The count, claimed by unique insert, with the task's claim as its second key.
            ("insert", "progress_links"): 1,
            # Once written: was the player erased meanwhile? (then it is erased again)
            ("find", "erased_users"): 1,
        }
    )
    assert ("find", "challenges") not in crowded  # the read model is never scanned
    assert await progress_of(service, cid, "ann") == 3


async def test_a_wiped_index_is_rebuilt_before_an_event_counts(counted: Any, redis: Any) -> None:
    service, _ = counted
    cid = await playing(service, "ann")
    await complete(service, "ann")
    await redis.delete(MARKER, running_key("ann"))  # what a Redis restart without data does
    await complete(service, "ann")
    assert await progress_of(service, cid, "ann") == 2
    assert await redis.smembers(running_key("ann")) == {cid}


async def test_an_entry_left_by_a_crash_is_dropped_and_counts_nothing(
    counted: Any, redis: Any
) -> None:
    service, _ = counted
    kept = await playing(service, "ann")
    left = await playing(service, "ann")
    await service.abandon("ann", left)
    # A crash between the abandon's link and the index update leaves the entry behind.
    await service.running.add("ann", left)
    # So does an accept that added its entry and then lost (a challenge never started).
    stranger = offer("bob", solo(), [], datetime.now(UTC))
    assert await service.store.write(stranger, 1)
    await service.running.add("ann", stranger.id)
    task = uuid.uuid4().hex[:24]
    await complete(service, "ann", task)
    assert await progress_of(service, kept, "ann") == 1
    assert await progress_of(service, left, "ann") == 0
    assert await redis.smembers(running_key("ann")) == {kept}
    await complete(service, "ann", task)  # the same task again: nothing more
    assert await progress_of(service, kept, "ann") == 1


async def test_a_finished_challenge_leaves_the_index(counted: Any, redis: Any) -> None:
    service, _ = counted
    cid = await playing(service, "ann", target=2)
    assert await redis.smembers(running_key("ann")) == {cid}
    await complete(service, "ann")
    await complete(service, "ann")
    assert (await service.store.current(cid)).status == "completed"  # type: ignore[union-attr]
    assert await redis.smembers(running_key("ann")) == set()


async def test_a_task_completed_at_once_through_two_replicas_counts_once(
    counted: Any, redis: Any, db_name: str, mongo_server: FerretDBServer
) -> None:
    """Two processes (their own caches), two exclusive challenges the task serves, the same
    task completed again and redelivered, all at once: one count, in the earliest accepted;
    one insert both counted and claimed it, so no crash can leave a claim without its count."""
    first_replica, _ = counted
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server.uri, tz_aware=True)
    async with httpx.AsyncClient() as http:
        second_replica = await replica(client[db_name], redis, http)
        earliest = await playing(first_replica, "ann")
        later = await playing(first_replica, "ann")
        task = uuid.uuid4().hex[:24]
        once = uuid.uuid4().hex  # one event delivered to both, and new completions of it
        await asyncio.gather(
            *(
                complete(each, "ann", task, event_id=event_id)
                for each in (first_replica, second_replica)
                for event_id in (once, once, uuid.uuid4().hex, uuid.uuid4().hex)
            )
        )
        assert await progress_of(first_replica, earliest, "ann") == 1
        assert await progress_of(second_replica, later, "ann") == 0
        counts = await client[db_name]["progress_links"].count_documents({"claims": f"ann:{task}"})
        assert counts == 1
    await client.close()


async def test_a_streak_counts_a_habit_daily_and_keeps_it_from_other_challenges(
    counted: Any,
) -> None:
    """A streak counts the same habit on each day (its claim is a marker, apart from the
    counts); a solo accepted after it never counts that habit, and a task a solo counted
    first never counts for a streak accepted later."""
    service, _ = counted
    streak = await playing(service, "ann", kind="streak")  # two days
    later_solo = await playing(service, "ann")
    habit = uuid.uuid4().hex[:24]
    now = datetime.now(UTC)
    await complete(service, "ann", habit, at=now)
    await complete(service, "ann", habit, at=now + timedelta(days=1))
    assert len((await service.store.progress(streak, "ann"))[0].days) == 2
    assert (await service.store.current(streak)).status == "completed"  # type: ignore[union-attr]
    assert await progress_of(service, later_solo, "ann") == 0

    bob_solo = await playing(service, "bob")
    bob_streak = await playing(service, "bob", kind="streak")
    task = uuid.uuid4().hex[:24]
    await complete(service, "bob", task)
    assert await progress_of(service, bob_solo, "bob") == 1
    assert (await service.store.progress(bob_streak, "bob"))[0].days == ()


async def test_claims_made_before_they_rode_on_the_counts_are_carried_over(
    counted: Any,
) -> None:
    """A task claimed in ``task_claims`` (the older version) stays its challenge's."""
    service, _ = counted
    elsewhere = await playing(service, "ann")
    cid = await playing(service, "ann")
    task = uuid.uuid4().hex[:24]
    await service.store.legacy_claims.insert_one({"_id": f"ann:{task}", "challenge_id": "gone"})
    assert await service.store.carry_over_claims() == 1
    assert await service.store.carry_over_claims() == 0  # done once; the collection went
    await complete(service, "ann", task)
    assert await progress_of(service, elsewhere, "ann") == 0
    assert await progress_of(service, cid, "ann") == 0
    await complete(service, "ann")  # any other task counts as before
    assert await progress_of(service, elsewhere, "ann") == 1
