"""MongoDB persistence for erasing deleted accounts: the tombstones (the kit's
:class:`~deepiri_kit.data.mongo.Tombstones`, collection ``erased_users``) and the account's
Idempotency-Key records (their stored responses hold its balances)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit.data.mongo import Tombstones, forget_idempotency_keys

Document = dict[str, Any]


class Erasures(Tombstones):
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        super().__init__(db)
        self.db = db

    async def forget_requests(self, user_id: str) -> int:
        """Erase the user's Idempotency-Key records."""
        return await forget_idempotency_keys(self.db, user_id)
