"""Items in MongoDB, and the tally the consumer keeps of announced items."""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from challenge_service.domain.items import Item
from deepiri_kit.chain import OUTBOX, Chain
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import EventBus

Document = dict[str, Any]
ITEM_INDEXES = [IndexModel([("owner", 1), ("created_at", -1)], name="owner_created")]
TALLY_INDEXES = [IndexModel([("owner", 1)], name="owner")]


def as_item(doc: Document) -> Item:
    return Item(
        id=doc["_id"],
        owner=doc["owner"],
        name=doc["name"],
        quantity=doc["quantity"],
        created_at=doc["created_at"],
    )


class ItemStore:
    def __init__(self, db: AsyncDatabase[Document], bus: EventBus) -> None:
        # Items are written once, with their events: the kit's write path delivers those
        # and sweeps up what a crash or a Redis outage left (deepiri_kit.chain).
        self.log = Chain(db["items"], bus)
        self.items = self.log.links
        self.tallies = db["item_tallies"]

    async def ensure_indexes(self) -> None:
        await self.log.ensure_indexes(*ITEM_INDEXES)
        await ensure_indexes(self.tallies, TALLY_INDEXES)

    async def insert(self, item: Item, outbox: list[Document]) -> Document:
        """The item and the events it causes, in one single-document write."""
        doc: Document = {
            "_id": item.id,
            "owner": item.owner,
            "name": item.name,
            "quantity": item.quantity,
            "created_at": item.created_at,
            OUTBOX: outbox,
        }
        await self.items.insert_one(doc)
        return doc

    async def get(self, owner: str, item_id: str) -> Item | None:
        doc = await self.items.find_one({"_id": item_id, "owner": owner})
        return None if doc is None else as_item(doc)

    async def newest(self, owner: str, limit: int) -> list[Item]:
        cursor = self.items.find({"owner": owner}).sort([("created_at", -1), ("_id", -1)])
        return [as_item(doc) async for doc in cursor.limit(limit)]

    async def tally(self, owner: str, item_id: str) -> None:
        """Idempotent: the item id is the key, so a redelivered event counts once."""
        with contextlib.suppress(DuplicateKeyError):
            await self.tallies.insert_one({"_id": item_id, "owner": owner})

    async def count(self, owner: str) -> int:
        return await self.tallies.count_documents({"owner": owner})
