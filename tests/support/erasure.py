"""Account deletion in tests: ``user.deleted`` as user-service publishes it, and the search
for anything of a user left in a service's MongoDB database or in Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from bson import json_util

from deepiri_kit.contracts.users import STREAM, UserDeleted
from deepiri_kit.events import Envelope, EventBus, event_envelope


def someone(name: str) -> str:
    """A user id no other test data contains, so a search for it finds only that user."""
    return f"{name}-{uuid.uuid4().hex}"


def user_deleted(user_id: str, event_id: str | None = None) -> Envelope:
    """The envelope user-service publishes (its id: ``<user>:deleted``, one per account)."""
    return event_envelope(
        UserDeleted(user_id=user_id),
        source="user-service",
        user_id=user_id,
        event_id=event_id or f"{user_id}:deleted",
    )


async def publish_deletion(redis: Any, user_id: str, event_id: str | None = None) -> None:
    await EventBus(redis).publish(STREAM.name, user_deleted(user_id, event_id))


async def mongo_traces(db: Any, user_id: str, *, besides: Iterable[str] = ()) -> dict[str, int]:
    """Collection → how many of its documents mention ``user_id`` anywhere (keys, values,
    nested), leaving out the collections ``besides`` (a tombstone is meant to stay)."""
    found: dict[str, int] = {}
    for name in sorted(set(await db.list_collection_names()) - set(besides)):
        hits = [doc async for doc in db[name].find() if user_id in json_util.dumps(doc)]
        if hits:
            found[name] = len(hits)
    return found


async def redis_traces(redis: Any, user_id: str, *, besides: Iterable[str] = ()) -> list[str]:
    """Keys whose name or value mentions ``user_id``, leaving out the keys ``besides``."""
    skip = set(besides)
    found = []
    async for key in redis.scan_iter(count=500):
        if key in skip:
            continue
        kind = await redis.type(key)
        if kind == "string":
            value: Any = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1)
        elif kind == "set":
            value = await redis.smembers(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            value = None
        if user_id in key or user_id in repr(value):
            found.append(key)
    return sorted(found)
