"""The use cases: everything a handler, a consumer or a CLI command would otherwise repeat.
No HTTP here: rules raise the kit's domain errors (``Invalid``, ``NotFound``, …), which the
app maps to problem documents; handlers only shape successful outcomes."""

from __future__ import annotations

import uuid

from challenge_service.domain import items as rules
from challenge_service.domain.items import Item
from challenge_service.events import publish
from challenge_service.store.items import ItemStore
from deepiri_kit import NotFound, utcnow
from deepiri_kit.contracts.challenge import ItemCreated
from deepiri_kit.events import outbox_entry


class ItemService:
    def __init__(self, store: ItemStore) -> None:
        self.store = store

    async def create(self, owner: str, name: str, quantity: int) -> Item:
        """A new item owned by ``owner``; announces ``item.created``."""
        item = rules.new_item(
            item_id=uuid.uuid4().hex, owner=owner, name=name, quantity=quantity, now=utcnow()
        )
        event = publish.item_created(
            owner, ItemCreated(item_id=item.id, name=item.name, quantity=item.quantity)
        )
        entry = outbox_entry(publish.STREAM.name, event)
        # The event rides in the item's document (one atomic write); it is published now,
        # or by the write path's sweep if this process dies or Redis is down first.
        doc = await self.store.insert(item, [entry])
        await self.store.log.deliver(doc)
        return item

    async def get(self, owner: str, item_id: str) -> Item:
        """``owner``'s item (NotFound for anyone else's, so ids do not leak)."""
        item = await self.store.get(owner, item_id)
        if item is None:
            raise NotFound(f"no item {item_id}")
        return item

    async def newest(self, owner: str, limit: int) -> list[Item]:
        return await self.store.newest(owner, limit)

    async def count(self, owner: str) -> int:
        return await self.store.count(owner)

    async def on_item_created(self, owner: str, event: ItemCreated) -> None:
        """Consumed ``item.created``: counted once per item, however often it arrives."""
        await self.store.tally(owner, event.item_id)
