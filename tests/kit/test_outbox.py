"""The outbox: an event written with its change is published even if the producer dies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deepiri_kit.events import Envelope, EventBus, OutboxRelay, new_event, outbox_entry, push_outbox
from deepiri_kit.events.outbox import OUTBOX, OUTBOX_INDEX
from infra import FerretDBServer, RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

STREAM = "events.things"


async def stream_ids(redis: Any) -> list[str]:
    return [Envelope.decode(fields["envelope"]).id for _, fields in await redis.xrange(STREAM)]


async def test_inline_delivery_publishes_and_clears(redis: Any, mongo: Any) -> None:
    things = mongo["things"]
    await things.create_indexes([OUTBOX_INDEX])
    relay = OutboxRelay(EventBus(redis), [things])
    created = outbox_entry(STREAM, new_event("thing.created", source="t", user_id="u", data={}))
    await things.insert_one({"_id": 1, "v": 1, OUTBOX: [created]})
    renamed = outbox_entry(STREAM, new_event("thing.renamed", source="t", user_id="u", data={}))
    # Change and event in one atomic update: either both happen or neither.
    await things.update_one({"_id": 1}, {"$set": {"v": 2}, **push_outbox(renamed)})

    assert await relay.deliver(things, 1, [created, renamed])
    assert await stream_ids(redis) == [created["id"], renamed["id"]]
    doc = await things.find_one({"_id": 1})
    assert OUTBOX not in doc  # nothing left to relay, field gone (sparse index stays small)
    assert await relay.sweep(min_age=0) == 0


async def test_producer_killed_between_write_and_publish_loses_nothing(
    redis: Any, mongo: Any, mongo_server: FerretDBServer
) -> None:
    producer = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("outbox_crash_producer.py")),
            mongo_server.uri,
            mongo.name,
            STREAM,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert producer.returncode == -9, producer.stderr  # it really died by SIGKILL
    event_id = producer.stdout.strip()
    assert await redis.xlen(STREAM) == 0  # nothing was published before the crash

    relay = OutboxRelay(EventBus(redis), [mongo["things"]])
    assert await relay.sweep(min_age=0) == 1
    assert await stream_ids(redis) == [event_id]
    assert await relay.sweep(min_age=0) == 0  # and only once
    assert (await mongo["things"].find_one({"_id": "thing-1"}))["name"] == "written"


async def test_sweep_leaves_young_entries_to_the_inline_path(redis: Any, mongo: Any) -> None:
    things = mongo["things"]
    entry = outbox_entry(STREAM, new_event("thing.created", source="t", user_id="u", data={}))
    await things.insert_one({"_id": 1, OUTBOX: [entry]})
    relay = OutboxRelay(EventBus(redis), [things], min_age=60)
    assert await relay.sweep() == 0
    assert await relay.sweep(min_age=0) == 1


async def test_redis_outage_defers_to_the_sweep(
    mongo: Any, servers_root: Path, tmp_path: Path
) -> None:
    from redis.asyncio import Redis

    own_redis = RedisServer(tmp_path)
    own_redis.start()
    client = Redis(port=own_redis.port, decode_responses=True, socket_connect_timeout=0.5)
    try:
        things = mongo["things"]
        relay = OutboxRelay(EventBus(client), [things])
        entry = outbox_entry(STREAM, new_event("thing.created", source="t", user_id="u", data={}))
        await things.insert_one({"_id": 1, OUTBOX: [entry]})
        own_redis.stop()
        assert not await relay.deliver(things, 1, [entry])  # the write stands; publish waits
        assert len((await things.find_one({"_id": 1}))[OUTBOX]) == 1
        own_redis.start()
        assert await relay.sweep(min_age=0) == 1
        assert [Envelope.decode(f["envelope"]).id for _, f in await client.xrange(STREAM)] == [
            entry["id"]
        ]
    finally:
        await client.aclose()
        own_redis.stop()
