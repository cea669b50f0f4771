"""MongoDB persistence for erasing deleted accounts: the tombstones (``erased_users``,
``_id`` = the user id) and the account's Idempotency-Key records (their stored responses
hold its tasks). A tombstone outlives the erasure, so that nothing written for that user
afterwards survives (a request with a token issued before the deletion, a write racing the
erasure): the use cases check it after every write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit.data.mongo import forget_idempotency_keys

Document = dict[str, Any]


class Erasures:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.tombstones = db["erased_users"]

    async def bury(self, user_id: str, deleted_at: datetime) -> None:
        """Record that ``user_id`` was deleted (once; a redelivery changes nothing)."""
        await self.tombstones.update_one(
            {"_id": user_id}, {"$setOnInsert": {"deleted_at": deleted_at}}, upsert=True
        )

    async def buried(self, user_id: str) -> bool:
        return await self.tombstones.find_one({"_id": user_id}, {"_id": 1}) is not None

    async def forget_requests(self, user_id: str) -> int:
        """Erase the user's Idempotency-Key records."""
        return await forget_idempotency_keys(self.db, user_id)
