"""Producers replay from their journal what a Redis that lost its data never delivered."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from deepiri_kit.clock import utcnow
from deepiri_kit.events import BusGuard, Envelope, EventBus, Journal, journalled, new_event
from deepiri_kit.events.outbox import outbox_entry
from support.streams import published

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

STREAM = "events.replayed"
GROUP = "consumers"
# Events are written this far apart; the guard's margin (for the delay between a write and
# its publish) is smaller, so it decides exactly which events a replay takes.
SPACING, MARGIN = 1.0, 0.5


async def write_and_publish(mongo: Any, bus: EventBus, n: int) -> Envelope:
    """A producer's change: its document journals the event, then the event is published."""
    event = new_event("thing.happened", source="tests", user_id="u1", data={"n": n})
    await mongo["changes"].insert_one(
        {"_id": n, "at": utcnow(), **journalled([outbox_entry(STREAM, event)])}
    )
    await bus.publish(STREAM, event)
    await asyncio.sleep(SPACING)
    return event


async def consume(redis: Any, count: int, *, ack: bool = True) -> None:
    response = await redis.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=count)
    for _, entries in response:
        for entry_id, _fields in entries:
            if ack:
                await redis.xack(STREAM, GROUP, entry_id)


async def stream_events(redis: Any) -> list[Envelope]:
    return await published(redis, STREAM)


def guard_for(redis: Any, mongo: Any, margin: float = MARGIN) -> BusGuard:
    return BusGuard(
        redis,
        EventBus(redis),
        mongo["bus_checkpoints"],
        [Journal(mongo["changes"])],
        [STREAM],
        margin=margin,
    )


async def test_a_redis_that_lost_its_data_gets_back_what_was_not_consumed(
    redis: Any, mongo: Any
) -> None:
    bus = EventBus(redis)
    guard = guard_for(redis, mongo)
    await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    assert await guard.check() == 0  # first sight: notes the Redis it talks to
    consumed = [await write_and_publish(mongo, bus, n) for n in range(3)]
    await consume(redis, 3)
    assert await guard.check() == 0  # confirms consumption up to the third event
    waiting = [await write_and_publish(mongo, bus, n) for n in range(3, 5)]
    await consume(redis, 1, ack=False)  # one more delivered, never acknowledged...
    assert await guard.check() == 0

    await redis.flushall()  # ...and Redis comes back without its data
    assert await guard.check() == 2
    replayed = await stream_events(redis)
    # The same events (same ids, same bytes), and only those not confirmed consumed.
    assert replayed == waiting
    assert not {e.id for e in consumed} & {e.id for e in replayed}
    assert await guard.check() == 0  # once per change of Redis


async def test_a_restart_that_kept_the_data_replays_only_the_unconfirmed_tail(
    redis: Any, mongo: Any
) -> None:
    """A different run id (restart, failover) is a different Redis, even with the data: the
    last second before a crash may be missing from its append-only file."""
    bus = EventBus(redis)
    guard = guard_for(redis, mongo)
    await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    await guard.check()
    early = await write_and_publish(mongo, bus, 1)
    last_consumed = await write_and_publish(mongo, bus, 2)
    await consume(redis, 2)
    await guard.check()
    tail = await write_and_publish(mongo, bus, 3)
    # The same data set under another run id: what a restart from the AOF looks like.
    note = await mongo["bus_checkpoints"].find_one({"_id": STREAM})
    await mongo["bus_checkpoints"].update_one(
        {"_id": STREAM}, {"$set": {"redis": "another-run/" + note["redis"].split("/")[1]}}
    )
    before = await redis.xlen(STREAM)
    # The tail, and what lies within the margin before the confirmed point.
    assert await guard.check() == 2
    replayed = (await stream_events(redis))[before:]
    assert replayed == [last_consumed, tail]
    assert early not in replayed


async def test_replay_on_demand_republishes_a_window(redis: Any, mongo: Any) -> None:
    bus = EventBus(redis)
    guard = guard_for(redis, mongo)
    start = utcnow()
    sent = [await write_and_publish(mongo, bus, n) for n in range(3)]
    await redis.delete(STREAM)
    assert await guard.replay(start - timedelta(seconds=1)) == 3
    assert await stream_events(redis) == sent
    assert await guard.replay(utcnow()) == 0
