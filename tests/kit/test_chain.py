"""The kit's write path (deepiri_kit.chain) against real FerretDB and Redis: claims, the head
and its cache, projection, delivery marking, the sweep and its bound on delivery delay."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import IndexModel

from deepiri_kit.chain import OUTBOX, AlreadyRecorded, Chain, Sweeper, link_id, link_seq
from deepiri_kit.events import EventBus, new_event, outbox_entry
from deepiri_kit.workers import Periodic
from infra import FerretDBServer, RedisServer
from support.streams import published
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

STREAM = "events.things"


def entry(name: str = "thing.changed") -> dict[str, Any]:
    return outbox_entry(STREAM, new_event(name, source="t", user_id="u", data={}))


async def stream_ids(redis: Any) -> list[str]:
    return [event.id for event in await published(redis, STREAM)]


async def append(chain: Chain, key: str, value: Any, *, deliver: bool = True) -> dict[str, Any]:
    """What every writer does: claim the link after the head; on losing it, re-read and retry."""
    for _ in range(200):
        head = await chain.head(key)
        seq = link_seq(head) + 1 if head else 1
        link = await chain.claim(key, seq, {"value": value}, outbox=[entry()])
        if link is not None:
            if deliver:
                await chain.deliver(link)
            return link
    raise AssertionError("never won a link")


@contextlib.asynccontextmanager
async def running(*workers: Periodic) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def a_pass_started_after(sweeper: Sweeper, moment: Any) -> None:
    """Wait until a sweep pass that *started* at ``moment`` or later has finished."""

    async def done() -> bool:
        return sweeper.last_started is not None and sweeper.last_started >= moment

    await eventually(done)


async def test_concurrent_claims_have_exactly_one_winner_per_sequence(mongo: Any) -> None:
    chains = [Chain(mongo["things"]) for _ in range(2)]  # two replicas' views of one collection
    won = await asyncio.gather(*(chains[i % 2].claim("k", 1, {"writer": i}) for i in range(30)))
    assert len([w for w in won if w is not None]) == 1
    assert await mongo["things"].count_documents({}) == 1

    # Writers that lose re-read the head and take the next number: no gaps, no doubles.
    await asyncio.gather(*(append(chains[i % 2], "k", i, deliver=False) for i in range(20)))
    links = await mongo["things"].find({}).sort("_id", 1).to_list()
    assert [link_seq(d) for d in links] == list(range(1, 22))
    assert sorted(d["value"] for d in links[1:]) == list(range(20))


async def test_another_unique_index_refuses_a_second_recording(mongo: Any) -> None:
    chain = Chain(mongo["things"])
    await chain.ensure_indexes(IndexModel([("ik", 1)], name="ik_unique", unique=True))
    assert await chain.claim("k", 1, {}, extra={"ik": "request-1"}) is not None
    with pytest.raises(AlreadyRecorded):
        await chain.claim("k", 2, {}, extra={"ik": "request-1"})
    assert await chain.claim("k", 1, {}, extra={"ik": "request-2"}) is None  # slot taken
    assert (await chain.get("k", 1) or {})["ik"] == "request-1"


async def test_a_stale_head_cache_costs_a_retry_never_a_wrong_head(mongo: Any) -> None:
    mine, theirs = Chain(mongo["things"], cache=10), Chain(mongo["things"], cache=10)
    await mine.claim("k", 1, {"v": "a"})
    assert link_seq(await theirs.head("k") or {"_id": "k:0"}) == 1
    await theirs.claim("k", 2, {"v": "b"})
    cached = mine.cached("k")
    assert cached is not None
    assert link_seq(cached) == 1
    assert await mine.claim("k", 2, {"v": "c"}) is None  # so the claim from it loses
    head = await mine.head("k")
    assert head is not None
    assert (link_seq(head), head["v"]) == (2, "b")
    assert link_seq(mine.cached("k") or {"_id": "k:0"}) == 2


async def test_the_head_is_found_from_a_lagging_pointer_or_by_id_alone(mongo: Any) -> None:
    pointers = mongo["heads"]
    chain = Chain(mongo["things"], pointers=pointers, pointer_every=2)
    for n in range(1, 6):
        await chain.claim("a", n, {"n": n})
    assert (await pointers.find_one({"_id": "a"}) or {})["seq"] == 5
    await pointers.update_one({"_id": "a"}, {"$set": {"seq": 3}})  # lagging
    assert link_seq(await Chain(mongo["things"], pointers=pointers).head("a") or {}) == 5
    # Keys that extend each other are never confused (the suffix has a fixed width).
    for n in range(1, 4):
        await chain.claim("a:000000000009", n, {"n": n})
    fresh = Chain(mongo["things"])  # no cache, no pointer: the highest _id of the key
    assert link_seq(await fresh.head("a") or {}) == 5
    assert link_seq(await fresh.head("a:000000000009") or {}) == 3
    assert await fresh.head("b") is None
    assert link_id("a", 5) == "a:000000000005"


async def test_erasing_chains_takes_their_links_markers_and_pointers_and_nothing_else(
    redis: Any, mongo: Any
) -> None:
    pointers = mongo["pointers"]
    chain = Chain(mongo["things"], EventBus(redis), cache=10, pointers=pointers, pointer_every=2)
    # "a.b" and "a" would meet in a careless pattern ("." matches any character, "a" prefixes).
    for key in ("a.b", "axb", "a", "a:b"):
        for seq in (1, 2):
            event = new_event("thing.happened", source="test", user_id=None, data={"k": key})
            link = await chain.claim(key, seq, {"n": seq}, outbox=[outbox_entry("s", event)])
            assert link is not None
            await chain.deliver(link)
    assert await chain.erase("a.b", "a") == 4
    assert await chain.erase("a.b", "a") == 0  # again: nothing left
    left = sorted(await mongo["things"].distinct("_id"))
    assert left == sorted(link_id(k, n) for k in ("axb", "a:b") for n in (1, 2))
    assert sorted(await chain.delivered.distinct("_id")) == left
    assert sorted(await pointers.distinct("_id")) == ["a:b", "axb"]
    assert chain.cached("a") is None
    assert await chain.head("a") is None
    assert link_seq(await chain.head("axb") or {}) == 2


async def test_projection_never_goes_backwards_and_converges_on_the_head(mongo: Any) -> None:
    chain, view = Chain(mongo["things"]), mongo["view"]

    def render(link: dict[str, Any]) -> dict[str, Any]:
        return {"version": link_seq(link), "value": link["value"]}

    links = [await chain.claim("k", n, {"value": f"v{n}"}) for n in (1, 2, 3)]
    await chain.project(view, "k", links[2] or {}, render)
    await chain.project(view, "k", links[1] or {}, render)  # a slower writer, older link
    assert await view.find_one({"_id": "k"}) == {"_id": "k", "version": 3, "value": "v3"}

    async def write(i: int) -> None:
        link = await append(chain, "k", f"w{i}", deliver=False)
        await chain.project(view, "k", link, render)

    await asyncio.gather(*(write(i) for i in range(12)))
    head = await chain.head("k")
    assert head is not None
    assert await view.find_one({"_id": "k"}) == {
        "_id": "k",
        "version": 15,
        "value": head["value"],
    }


async def test_delivery_marks_then_compaction_strips_the_outbox(redis: Any, mongo: Any) -> None:
    order: list[str] = []

    async def on_deliver(key: str, link: dict[str, Any]) -> None:
        order.append(f"board {key}")

    chain = Chain(mongo["things"], EventBus(redis), on_deliver=on_deliver)
    await chain.ensure_indexes()
    first, second = entry("thing.created"), entry("thing.renamed")
    link = await chain.claim("k", 1, {"v": 1}, outbox=[first, second])
    assert link is not None
    assert [d["_id"] for d in await chain.undelivered()] == ["k:000000000001"]
    assert await chain.deliver(link)
    assert order == ["board k"]
    assert await stream_ids(redis) == [first["id"], second["id"]]
    # Delivered but not stripped yet: a leftover, which nobody mistakes for undelivered.
    assert await chain.undelivered() == []
    assert await chain.leftovers() == 1
    assert await chain.compact() == 1
    assert await chain.leftovers() == 0
    assert OUTBOX not in (await mongo["things"].find_one({"_id": "k:000000000001"}) or {})
    assert await chain.sweep() == 0
    assert await chain.compact() == 0


async def test_the_sweep_repairs_then_delivers_only_what_is_due(redis: Any, mongo: Any) -> None:
    repaired: list[str] = []

    async def repair(key: str, link: dict[str, Any]) -> None:
        repaired.append(link["_id"])

    chain = Chain(mongo["things"], EventBus(redis), repair=repair)
    pending = entry()
    await chain.claim("k", 1, {}, outbox=[pending])  # its writer died before delivering
    assert await chain.sweep(min_age=60) == 0  # young: still its writer's to deliver
    assert await chain.sweep(min_age=0) == 1
    assert repaired == ["k:000000000001"]
    assert await stream_ids(redis) == [pending["id"]]
    assert await chain.sweep(min_age=0) == 0  # and only once


async def test_a_redis_outage_defers_delivery_to_the_sweep(mongo: Any, tmp_path: Path) -> None:
    from redis.asyncio import Redis

    own_redis = RedisServer(tmp_path)
    own_redis.start()
    client = Redis(port=own_redis.port, decode_responses=True, socket_connect_timeout=0.5)
    try:
        chain = Chain(mongo["things"], EventBus(client))
        pending = entry()
        link = await chain.claim("k", 1, {}, outbox=[pending])
        assert link is not None
        own_redis.stop()
        assert not await chain.deliver(link)  # the write stands; publishing waits
        assert len(await chain.undelivered()) == 1
        own_redis.start()
        assert await chain.sweep() == 1
        assert await stream_ids(client) == [pending["id"]]
    finally:
        await client.aclose()
        own_redis.stop()


async def test_fifty_concurrent_writes_are_all_delivered_within_the_bound(
    redis: Any, mongo: Any
) -> None:
    chain = Chain(mongo["things"], EventBus(redis), cache=100)
    sweeper, compactor = chain.workers(interval=0.3, min_age=1.5, compact_every=0.3)
    assert isinstance(sweeper, Sweeper)
    async with running(sweeper, compactor):
        # Half the writers "die" after their insert (no inline delivery), on five chains.
        links = await asyncio.gather(
            *(append(chain, f"k{i % 5}", i, deliver=i % 2 == 0) for i in range(50))
        )
        newest = max(link[OUTBOX][0]["at"] for link in links)
        # The first pass that starts once the newest write is min_age old delivers it.
        await a_pass_started_after(sweeper, newest + timedelta(seconds=sweeper.min_age))
        assert await chain.undelivered() == []
        published = await stream_ids(redis)
        assert set(published) == {link[OUTBOX][0]["id"] for link in links}
        # And the compactor clears what was delivered: no leftovers either.

        async def cleared() -> bool:
            return await mongo["things"].count_documents({OUTBOX: {"$exists": True}}) == 0

        await eventually(cleared)
        assert await chain.leftovers() == 0
    assert sweeper.bound == pytest.approx(1.8)


async def _after(sweeper: Sweeper, passes: int) -> bool:
    return sweeper.passes > passes


async def test_a_producer_killed_before_publishing_is_published_by_the_sweep_once(
    redis: Any, mongo: Any, mongo_server: FerretDBServer
) -> None:
    producer = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("chain_crash_producer.py")),
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

    chain = Chain(mongo["things"], EventBus(redis))
    [link] = await chain.undelivered()
    sweeper = Sweeper(chain, interval=0.2, min_age=0.5)
    async with running(sweeper):
        due = link[OUTBOX][0]["at"] + timedelta(seconds=sweeper.min_age)
        await a_pass_started_after(sweeper, due)
        assert await stream_ids(redis) == [event_id]
        passes = sweeper.passes
        await eventually(lambda: _after(sweeper, passes + 2))
    assert await stream_ids(redis) == [event_id]  # exactly once
    assert (await mongo["things"].find_one({"_id": "thing-1:000000000001"}) or {})[
        "name"
    ] == "written"


async def test_an_idle_sweep_reads_no_links_and_a_dead_writers_links_are_swept(
    redis: Any, mongo: Any
) -> None:
    """Passes after the first read only the leases while every writer lives; a writer whose
    lease lapses (it died after its insert) makes the next pass a full one, which delivers
    what it left, once, and drops its lease."""
    survivor = Chain(mongo["things"], EventBus(redis), lease=1.0)
    sweeper = Sweeper(survivor, interval=0.2, min_age=0.3, full_every=3600)
    async with running(sweeper):
        await eventually(lambda: _after(sweeper, 5))  # past its first min_age: full ones
        warm, passes = sweeper.full_passes, sweeper.passes
        await eventually(lambda: _after(sweeper, passes + 3))
        assert sweeper.full_passes == warm  # idle: none
        assert await survivor.writers.count_documents({}) == 1  # its own lease

        dead = Chain(mongo["things"], EventBus(redis), lease=1.0)  # never beats again
        left = entry()
        assert await dead.claim("k", 1, {}, outbox=[left]) is not None
        assert await survivor.writers.count_documents({}) == 2

        async def delivered() -> bool:
            return await stream_ids(redis) == [left["id"]]

        await eventually(delivered)

        async def buried() -> bool:  # the pass that delivered it drops the lease after
            gone = await survivor.writers.count_documents({"_id": dead.token}) == 0
            return gone and sweeper.full_passes == warm + 1

        await eventually(buried)
        passes = sweeper.passes
        await eventually(lambda: _after(sweeper, passes + 3))
    assert sweeper.full_passes == warm + 1
    assert await stream_ids(redis) == [left["id"]]  # once
