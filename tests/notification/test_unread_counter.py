"""The unread counter is exact under concurrency, on real FerretDB and Redis: two replicas'
stores creating, reading, reading all and deleting one user's notifications at once (the
same notification read and deleted at the same instant, one event recorded twice) leave the
counter equal to the user's unread notifications — and a counter lost with Redis is
rebuilt exactly."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from redis.asyncio import Redis
from redis.exceptions import RedisError

from notification_service.domain.notifications import Notification, notification_id
from notification_service.store.notifications import NotificationStore

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
USER = "uma"


def note(event: str) -> Notification:
    return Notification(
        id=notification_id(USER, event),
        user_id=USER,
        kind="badge",
        title="A badge",
        body=event,
        data={},
        created_at=datetime.now(UTC),
        read_at=None,
        event_id=event,
        event_type="gamification.badge_awarded",
    )


@pytest.fixture
async def replicas(
    mongo_server: Any, mongo: Any, redis: Any
) -> AsyncIterator[list[NotificationStore]]:
    """Two processes' stores: each its own MongoDB and Redis clients on the shared servers."""
    uri = mongo_server.uri
    port = redis.connection_pool.connection_kwargs["port"]
    mongos = [AsyncMongoClient[dict[str, Any]](uri, tz_aware=True) for _ in range(2)]
    redises = [Redis(host="127.0.0.1", port=port) for _ in range(2)]
    stores = [NotificationStore(m[mongo.name], r) for m, r in zip(mongos, redises, strict=True)]
    await stores[0].ensure_indexes()
    yield stores
    for m, r in zip(mongos, redises, strict=True):
        await m.close()
        await r.aclose()


async def truly_unread(mongo: Any) -> int:
    return int(await mongo["notifications"].count_documents({"user_id": USER, "read_at": None}))


async def test_concurrent_creates_reads_read_alls_and_deletes_keep_the_count_exact(
    replicas: list[NotificationStore], mongo: Any
) -> None:
    one, two = replicas
    rng = random.Random(7)
    existing = [note(f"old-{i}") for i in range(30)]
    for n in existing:
        await one.record(n, [])
    assert await one.unread(USER) == 30
    now = datetime.now(UTC)
    ops: list[Awaitable[Any]] = []
    for i in range(40):  # new ones, a few recorded by both replicas at once (a redelivery)
        fresh = note(f"new-{i}")
        ops.append(rng.choice(replicas).record(fresh, []))
        if i % 8 == 0:
            ops.append(rng.choice(replicas).record(fresh, []))
    for n in rng.sample(existing, 20):  # read, some by both replicas, some deleted meanwhile
        ops.append(rng.choice(replicas).mark_read(USER, n.id, now))
        if rng.random() < 0.3:
            ops.append(rng.choice(replicas).mark_read(USER, n.id, now))
        if rng.random() < 0.3:
            ops.append(rng.choice(replicas).delete(USER, n.id, now))
    for n in rng.sample(existing, 8):
        ops.append(rng.choice(replicas).delete(USER, n.id, now))
    ops += [one.mark_all_read(USER, now), two.mark_all_read(USER, now)]
    rng.shuffle(ops)
    await asyncio.gather(*ops)

    truth = await truly_unread(mongo)
    assert await one.unread(USER) == truth
    assert await two.unread(USER) == truth
    # And every one of them is counted from here on.
    await two.record(note("after"), [])
    assert await one.unread(USER) == truth + 1
    assert await one.mark_all_read(USER, now) == truth + 1
    assert await two.unread(USER) == 0


async def test_a_counter_redis_lost_is_rebuilt_exactly_while_the_inbox_changes(
    replicas: list[NotificationStore], mongo: Any, redis: Any
) -> None:
    """Redis restarted empty (the counter and its marks gone) while both replicas keep
    creating, reading and deleting: the rebuild that the first of them triggers, racing
    the rest, still ends at the true count."""
    one, two = replicas
    rng = random.Random(11)
    existing = [note(f"kept-{i}") for i in range(25)]
    for n in existing:
        await one.record(n, [])
    await redis.flushdb()
    now = datetime.now(UTC)
    ops: list[Awaitable[Any]] = [one.unread(USER), two.unread(USER)]
    ops += [rng.choice(replicas).record(note(f"late-{i}"), []) for i in range(15)]
    for n in rng.sample(existing, 12):
        ops.append(rng.choice(replicas).mark_read(USER, n.id, now))
        if rng.random() < 0.4:
            ops.append(rng.choice(replicas).delete(USER, n.id, now))
    rng.shuffle(ops)
    await asyncio.gather(*ops)

    truth = await truly_unread(mongo)
    assert truth == 25 + 15 - 12
    assert await one.unread(USER) == truth
    assert await two.unread(USER) == truth


async def test_a_request_that_lost_redis_is_completed_by_its_retry(
    replicas: list[NotificationStore], mongo: Any
) -> None:
    """Read, delete and read-all through a store whose Redis does not answer (port 9:
    nothing listens) fail; the client's retry through a working one leaves the count exact."""
    one = replicas[0]
    cut_off = Redis(host="127.0.0.1", port=9, socket_connect_timeout=1)
    broken = NotificationStore(one.notifications.database, cut_off)
    notes = [note(f"retry-{i}") for i in range(4)]
    for n in notes:
        await one.record(n, [])
    now = datetime.now(UTC)
    with pytest.raises(RedisError):  # read in MongoDB, not uncounted
        await broken.mark_read(USER, notes[0].id, now)
    assert await one.mark_read(USER, notes[0].id, now)
    assert await one.unread(USER) == await truly_unread(mongo) == 3
    with pytest.raises(RedisError):  # nothing written
        await broken.delete(USER, notes[1].id, now)
    assert await one.delete(USER, notes[1].id, now)
    assert await one.unread(USER) == await truly_unread(mongo) == 2
    with pytest.raises(RedisError):
        await broken.mark_all_read(USER, now)
    assert await one.mark_all_read(USER, now) == 2
    assert await one.unread(USER) == await truly_unread(mongo) == 0
    assert await one.mark_read(USER, notes[0].id, now)  # again: nothing changes
    assert await one.unread(USER) == 0
    await cut_off.aclose()
