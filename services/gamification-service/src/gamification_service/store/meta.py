"""Small facts the service keeps about itself (collection ``meta``)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
CATALOG_DOC = "badge_catalog"


class Meta:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.docs = db["meta"]

    async def badge_catalog(self) -> list[str] | None:
        """The badge ids the last backfill evaluated everyone against."""
        stored = await self.docs.find_one({"_id": CATALOG_DOC})
        return None if stored is None else list(stored.get("ids", []))

    async def remember_badge_catalog(self, ids: list[str]) -> None:
        await self.docs.update_one({"_id": CATALOG_DOC}, {"$set": {"ids": ids}}, upsert=True)
