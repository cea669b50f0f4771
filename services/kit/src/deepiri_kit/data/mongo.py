"""MongoDB through PyMongo's native async API (Motor reached end of life in May 2026).

Design rule for every service (ARCHITECTURE §3): no multi-document transactions. Use
single-document atomic updates, unique indexes and idempotency keys.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from deepiri_kit.settings import MongoSettings

Document = dict[str, Any]
# The Idempotency-Key records (deepiri_kit.idempotency), in each service's own database.
IDEMPOTENCY_RECORDS = "idempotency_keys"


def open_mongo(settings: MongoSettings, app_name: str) -> AsyncMongoClient[Document]:
    # No I/O happens here; the driver connects on first use, so start-up does not depend
    # on MongoDB being up yet (readiness reports it instead).
    return AsyncMongoClient(
        settings.mongo_uri,
        appname=app_name,
        tz_aware=True,
        # No call waits unbounded (a paused server must become a 503, not a hang).
        serverSelectionTimeoutMS=_ms(settings.mongo_server_selection_timeout_seconds),
        connectTimeoutMS=_ms(settings.mongo_connect_timeout_seconds),
        socketTimeoutMS=_ms(settings.mongo_socket_timeout_seconds),
        waitQueueTimeoutMS=_ms(settings.mongo_socket_timeout_seconds),
        uuidRepresentation="standard",
    )


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def database(
    client: AsyncMongoClient[Document], settings: MongoSettings
) -> AsyncDatabase[Document]:
    return client[settings.mongo_db]


async def ensure_indexes(
    collection: AsyncCollection[Document], indexes: Sequence[IndexModel]
) -> None:
    # One index per command: FerretDB 1.24 panics on a multi-index createIndexes naming an
    # index that already exists (so a second replica could never start).
    for index in indexes:
        await collection.create_indexes([index])


async def find_by_id(
    collection: AsyncCollection[Document],
    doc_id: Any,
    projection: Document | None = None,
    **fields: Any,
) -> Document | None:
    """The document ``doc_id`` if it also has ``fields`` (e.g. its ``owner``), else None.

    The filter is ``_id`` alone and ``fields`` are checked here: a lone ``_id`` equality is
    the one filter FerretDB 1.24 hands to SQLite; any other makes it decode and test every
    document of the collection itself, about 10 times slower (docs/ferretdb.md). On MongoDB
    both are one index lookup."""
    if projection is not None and fields and all(projection.values()):  # an inclusion
        projection = {**projection, **dict.fromkeys(fields, 1)}
    doc = await collection.find_one({"_id": doc_id}, projection)
    if doc is None or any(doc.get(k) != v for k, v in fields.items()):
        return None
    return doc


def is_duplicate_key(exc: BaseException) -> bool:
    return isinstance(exc, DuplicateKeyError)


async def forget_idempotency_keys(db: AsyncDatabase[Document], owner: str) -> int:
    """Erase ``owner``'s Idempotency-Key records from this service's database (their stored
    responses hold the owner's data): part of erasing a deleted account. How many went."""
    records = db[IDEMPOTENCY_RECORDS]
    ids = [r["_id"] async for r in records.find({"owner": owner}, {"_id": 1})]
    if not ids:
        return 0
    # The takeover locks on those records (documents {_id: {takeover_of, created}}) go too.
    await records.delete_many({"_id.takeover_of": {"$in": ids}})
    result = await records.delete_many({"_id": {"$in": ids}})
    return result.deleted_count


class Tombstones:
    """Deleted accounts a service has erased (collection ``erased_users``, ``_id`` = the user
    id, and when the account was deleted). A tombstone outlives the erasure: it is how a
    service refuses, or undoes, what arrives for that account afterwards (a late event, a
    request with a token issued before the deletion, a write that raced the erasure)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.collection = db["erased_users"]

    async def bury(self, user_id: str, deleted_at: datetime) -> None:
        """Record the deletion (once: a redelivery changes nothing)."""
        await self.collection.update_one(
            {"_id": user_id}, {"$setOnInsert": {"deleted_at": deleted_at}}, upsert=True
        )

    async def buried(self, user_id: str) -> bool:
        return await self.collection.find_one({"_id": user_id}, {"_id": 1}) is not None

    async def buried_among(self, user_ids: Iterable[str]) -> set[str]:
        """Which of ``user_ids`` were erased (one query)."""
        ids = sorted(set(user_ids))
        if not ids:
            return set()
        if len(ids) == 1:  # by _id alone: the one filter FerretDB does not scan for
            return set(ids) if await self.buried(ids[0]) else set()
        return {
            str(d["_id"]) async for d in self.collection.find({"_id": {"$in": ids}}, {"_id": 1})
        }

    @contextlib.asynccontextmanager
    async def undone_if_buried(
        self,
        user_ids: Iterable[str],
        undo: Callable[[str], Awaitable[object]],
        refusal: Callable[[], BaseException] | None = None,
    ) -> AsyncIterator[None]:
        """Around a write for ``user_ids``: once it has written everything (or failed
        half-way), each of them buried meanwhile — the tombstone after the write's first
        check, the erasure's deletes maybe before some of the write's inserts — has
        ``undo`` run (erase it again), and ``refusal()`` is raised (without a refusal the
        write is just undone: an event for an erased account is dropped). Checked only at
        the end: a write checked earlier could still land after the deletes, and a failed
        write's retry finds the tombstone and writes nothing, so it cannot clean up."""
        ids = list(user_ids)
        try:
            yield
        finally:
            if buried := await self.buried_among(ids):
                for user_id in sorted(buried):
                    await undo(user_id)
                if refusal is not None:
                    raise refusal()

    async def forget_requests(self, user_id: str) -> int:
        """Erase the user's Idempotency-Key records (their stored responses hold the user's
        data) from this service's database: how many went."""
        return await forget_idempotency_keys(self.db, user_id)


__all__ = [
    "IDEMPOTENCY_RECORDS",
    "Document",
    "Tombstones",
    "database",
    "ensure_indexes",
    "find_by_id",
    "forget_idempotency_keys",
    "is_duplicate_key",
    "open_mongo",
]
