#!/usr/bin/env python3
"""What one consumed event costs in datastore commands, counted, not timed.

    .venv/bin/python tools/bench/count_event_commands.py [--events 200] [--players 10]

On its own Redis and FerretDB (tools/infra.py), in this process:

* **the kit's consumer** (``deepiri_kit.events.Consumer``, a ``RedisInbox``, a handler doing
  nothing): Redis commands per event as the server counts them (``INFO commandstats``, the
  publisher's ``XADD``s left out) and round trips as redis-py sends them (a pipeline is
  one), for events read one per poll and for a backlog read in batches;
* **challenge-service's progress**: the consumer its ``workers.background`` builds, over
  ``task.completed`` events of players who each play one accepted solo challenge (distinct
  tasks, each counted): MongoDB commands per event (pymongo's ``CommandListener``, as
  ``profile_completion.py``), the writes among them, and Redis commands and round trips.

Every event is driven through ``poll_once`` by hand (no idle polls between them), so the
figures are per event and do not depend on the machine's speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]
os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")

from pymongo import monitoring  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from redis.asyncio.client import Pipeline  # noqa: E402

WRITES = {"insert", "update", "delete", "findAndModify"}
mongo_commands: Counter[str] = Counter()
round_trips: Counter[str] = Counter()


class Commands(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else ""
        mongo_commands[f"{event.command_name} {collection}"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


def watch_round_trips() -> None:
    """Count redis-py's round trips: a command, or a pipeline (one write, one read)."""
    command, execute = Redis.execute_command, Pipeline.execute

    async def counted_command(self: Any, *args: Any, **options: Any) -> Any:
        round_trips[str(args[0]).upper()] += 1
        return await command(self, *args, **options)

    async def counted_execute(self: Any, raise_on_error: bool = True) -> Any:
        names = "+".join(str(c[0][0]).upper() for c in self.command_stack)
        round_trips[f"pipeline({names})"] += 1
        return await execute(self, raise_on_error)

    Redis.execute_command = counted_command  # type: ignore[method-assign]
    Pipeline.execute = counted_execute  # type: ignore[method-assign]


async def server_commands(redis: Redis) -> Counter[str]:
    stats: dict[str, Any] = await redis.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})


async def measure(
    redis: Redis, events: int, run: Callable[[], Awaitable[None]]
) -> dict[str, Counter[str]]:
    """Per-run totals of what ``run`` sent (the publisher's XADDs and this tool's own INFO
    left out of the server's count)."""
    mongo_commands.clear()
    round_trips.clear()
    await redis.config_resetstat()
    await run()
    server = await server_commands(redis)
    server["xadd"] -= events
    for own in ("info", "config|resetstat"):
        server.pop(own, None)
    mine = Counter({k: v for k, v in round_trips.items() if k not in ("XADD", "INFO")})
    mine.pop("CONFIG RESETSTAT", None)
    return {"redis": +server, "round trips": +mine, "mongo": Counter(mongo_commands)}


def report(title: str, events: int, found: dict[str, Counter[str]]) -> None:
    print(f"\n{title} ({events} events)")
    for what, counts in found.items():
        total = sum(counts.values())
        detail = ", ".join(f"{k} {v / events:.2f}" for k, v in sorted(counts.items()))
        print(f"  {what:<12} {total / events:6.2f} per event   [{detail}]")
        if what == "mongo" and total:
            writes = sum(v for k, v in counts.items() if k.split()[0] in WRITES)
            print(f"  {'mongo writes':<12} {writes / events:6.2f} per event")


async def kit_consumer(redis_port: int, events: int) -> None:
    from deepiri_kit.events import Consumer, Envelope, EventBus, RedisInbox, new_event

    redis = Redis(port=redis_port, decode_responses=True)
    bus = EventBus(redis)
    stream = "events.count"
    handled: list[str] = []

    async def nothing(event: Envelope) -> None:
        handled.append(event.id)

    # As services build it (their reads block for a second); driven with short reads below.
    consumer = Consumer(redis, group="count", handlers={stream: nothing}, inbox=RedisInbox(redis))
    await consumer.ensure_groups()

    def one() -> Envelope:
        return new_event("count.happened", source="count", user_id="u", data={})

    async def singly() -> None:
        for _ in range(events):
            await bus.publish(stream, one())
            await consumer.poll_once(block_ms=1)

    async def backlog() -> None:
        for _ in range(events):
            await bus.publish(stream, one())
        while await consumer.poll_once(block_ms=1):
            pass

    report(
        "kit Consumer, RedisInbox, one event per poll", events, await measure(redis, events, singly)
    )
    report(
        "kit Consumer, RedisInbox, a backlog read in batches",
        events,
        await measure(redis, events, backlog),
    )
    assert len(handled) == 2 * events, len(handled)
    await redis.aclose()


async def challenge_progress(redis_port: int, mongo_uri: str, events: int, players: int) -> None:
    from challenge_service.app import build
    from challenge_service.service import offer
    from challenge_service.settings import ChallengeSettings
    from challenge_service.workers import background
    from deepiri_kit import Platform, load_settings
    from deepiri_kit.contracts import agent, tasks
    from deepiri_kit.events import Consumer, EventBus, event_envelope

    settings = load_settings(
        ChallengeSettings,
        {},
        mongo_uri=mongo_uri,
        mongo_db="count_challenges",
        redis_host="127.0.0.1",
        redis_port=redis_port,
        deepiri_env="test",
    )
    platform = await Platform.open(settings)
    try:
        built = await build(platform)
        service = built.challenges
        [consumer] = [w for w in background(platform, service) if isinstance(w, Consumer)]
        consumer.block_ms = 1
        await consumer.ensure_groups()
        goal = agent.Goal(metric="tasks_completed", target=100)  # the most the contract allows
        generated = agent.GeneratedChallenge(
            kind="solo",
            title="count",
            description="Counted.",
            difficulty="medium",
            category="productivity",
            reward_points=250,
            time_limit_hours=72,
            goal=goal,
            answered_by="fallback",
            prompt_version="count",
        )
        names = [f"player-{i}" for i in range(players)]
        challenges = {}
        for name in names:
            challenge = offer(name, generated, [], datetime.now(UTC))
            assert await service.store.write(challenge, 1)
            await service.accept(name, challenge.id)
            challenges[name] = challenge.id
        bus = EventBus(platform.require_redis())
        redis = Redis(port=redis_port, decode_responses=True)

        async def publish(n: int) -> None:
            user = names[n % len(names)]
            event = tasks.TaskCompleted(
                task_id=uuid.uuid4().hex[:24],
                kind="todo",
                difficulty="easy",
                completed_at=datetime.now(UTC),
                tags=[],
                title=f"task {n}",
            )
            await bus.publish(
                tasks.STREAM.name, event_envelope(event, source="count", user_id=user)
            )

        for n in range(players):  # every chain's first count reads its head: not measured
            await publish(n)
            await consumer.poll_once(block_ms=1)

        async def singly() -> None:
            for n in range(events):
                await publish(n)
                await consumer.poll_once(block_ms=1)

        report(
            "challenge-service progress, its workers' consumer, one event per poll",
            events,
            await measure(redis, events, singly),
        )
        total = 0
        for name, cid in challenges.items():
            total += (await service.store.progress(cid, name))[0].value
        assert total == players + events, (total, players + events)
        await built.http.aclose()
        await redis.aclose()
    finally:
        await platform.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--players", type=int, default=10)
    args = parser.parse_args()
    if args.events // args.players + 1 >= 100:  # nobody may reach the goal (100 tasks)
        parser.error("at most 98 events per player")
    from infra import FerretDBServer, RedisServer

    monitoring.register(Commands())
    watch_round_trips()
    with tempfile.TemporaryDirectory(prefix="count-events-") as tmp:
        redis, mongo = RedisServer(Path(tmp)), FerretDBServer(Path(tmp))
        redis.start()
        mongo.start()
        try:
            await kit_consumer(redis.port, args.events)
            await challenge_progress(redis.port, mongo.uri, args.events, args.players)
        finally:
            mongo.stop()
            redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
