"""Which events a consumer group has already handled (the event id is the key).

The inbox makes redelivery cheap; it is not a transaction with the handler. A handler that
moves money must still be idempotent on its own (gamification's ledger has a unique index on
the event id), because a crash between "handled" and "marked" redelivers the event.

The consumer asks about a whole read batch at once (:meth:`Inbox.seen`). A
:class:`RedisInbox` in the bus's own Redis also lets the consumer send the mark and the
acknowledgement as one ``MULTI`` (:meth:`RedisInbox.marking`): one round trip, and never one
without the other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

if TYPE_CHECKING:  # a service without MongoDB (no pymongo installed) uses RedisInbox
    from pymongo import IndexModel
    from pymongo.asynchronous.collection import AsyncCollection


class Inbox(Protocol):
    async def seen(self, group: str, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` the group marked handled."""
        ...

    async def mark(self, group: str, event_id: str) -> None: ...


class MongoInbox:
    """Durable: lives next to the consumer's own data."""

    @staticmethod
    def indexes() -> list[IndexModel]:
        from pymongo import IndexModel

        return [IndexModel([("at", 1)], name="processed_at")]

    def __init__(self, collection: AsyncCollection[dict[str, Any]], retention_days: int = 14):
        self.collection = collection
        self.retention = timedelta(days=retention_days)

    async def seen(self, group: str, event_ids: Sequence[str]) -> set[str]:
        # One lookup per id: FerretDB pushes only ``_id`` equality into SQLite (an ``$in``
        # is decoded and tested document by document, ~10 times slower; docs/ferretdb.md).
        found = set()
        for event_id in dict.fromkeys(event_ids):
            if await self.collection.find_one({"_id": f"{group}:{event_id}"}, {"_id": 1}):
                found.add(event_id)
        return found

    async def mark(self, group: str, event_id: str) -> None:
        # An insert, not an upsert: atomic on any MongoDB-wire server, and one primary-key
        # write where FerretDB runs every update as a scan of the collection.
        from pymongo.errors import DuplicateKeyError

        # Marked before (a redelivery): the first time stands.
        with contextlib.suppress(DuplicateKeyError):
            await self.collection.insert_one(
                {"_id": f"{group}:{event_id}", "at": datetime.now(UTC)}
            )

    async def prune(self) -> int:
        # No TTL indexes on a plain single node / FerretDB: prune by hand.
        result = await self.collection.delete_many(
            {"at": {"$lt": datetime.now(UTC) - self.retention}}
        )
        return result.deleted_count


class RedisInbox:
    """For consumers without a database of their own; keys expire after ``retention``."""

    def __init__(self, redis: Redis, retention_days: int = 14):
        self.redis = redis
        self.ttl = int(timedelta(days=retention_days).total_seconds())

    @staticmethod
    def key(group: str, event_id: str) -> str:
        return f"inbox:{group}:{event_id}"

    async def seen(self, group: str, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        marked = await self.redis.mget([self.key(group, i) for i in event_ids])
        return {i for i, value in zip(event_ids, marked, strict=True) if value is not None}

    async def mark(self, group: str, event_id: str) -> None:
        await self.redis.set(self.key(group, event_id), 1, ex=self.ttl)

    def marking(self, pipe: Pipeline, group: str, event_id: str) -> None:
        """Queue the mark on ``pipe`` (a pipeline of this inbox's Redis), e.g. in the same
        ``MULTI`` as the event's acknowledgement."""
        pipe.set(self.key(group, event_id), 1, ex=self.ttl)
