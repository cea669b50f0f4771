"""Transactional outbox without transactions.

A producer writes its pending events *into the same document* as the change that caused
them (``$push`` to ``_outbox`` in the same ``update_one``/``insert_one``), so the change and
its events are one atomic single-document write. After the write the producer publishes at
once (:meth:`OutboxRelay.deliver`); if the process dies first, or Redis is down, the relay's
sweep finds the entries later and publishes them. Entries leave the document only after the
publish, so a crash loses nothing and at worst publishes twice, which idempotent consumers
absorb.

FerretDB note: ``$pull`` with a condition is silently ignored there, so entries are removed
with ``$pullAll`` of the exact sub-documents read back, which works on both servers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from deepiri_kit import metrics
from deepiri_kit.events.bus import EventBus
from deepiri_kit.events.envelope import Envelope
from deepiri_kit.tracing import untraced
from deepiri_kit.workers import pause

OUTBOX = "_outbox"
OUTBOX_INDEX = IndexModel([(OUTBOX, 1)], name="outbox_pending", sparse=True)
log = logging.getLogger("deepiri.outbox")

RELAYED = metrics.counter(
    "deepiri_outbox_relayed_total",
    "Outbox entries published, by path (inline right after the write, or by the sweep).",
    ("path",),
)

Document = dict[str, Any]


def outbox_entry(stream: str, event: Envelope) -> Document:
    # Stored encoded: what is published later is byte-for-byte what was decided now.
    return {
        "id": event.id,
        "stream": stream,
        "type": event.type,
        "at": datetime.now(UTC),
        "payload": event.encode().decode(),
    }


def push_outbox(*entries: Document) -> Document:
    """The update fragment that appends ``entries``; merge it into the domain update."""
    return {"$push": {OUTBOX: {"$each": list(entries)}}}


async def publish_entries(bus: EventBus, entries: Sequence[Document]) -> None:
    """Publish outbox entries as stored (for producers that deliver more than events)."""
    for entry in entries:
        await bus.publish_raw(entry["stream"], entry["payload"], entry["type"])


async def clear_entries(
    collection: AsyncCollection[Document], doc_id: Any, entries: Sequence[Document]
) -> None:
    """Remove published entries from their document (and the field once it is empty)."""
    if not entries:
        return
    await collection.update_one({"_id": doc_id}, {"$pullAll": {OUTBOX: list(entries)}})
    await collection.update_one({"_id": doc_id, OUTBOX: {"$size": 0}}, {"$unset": {OUTBOX: ""}})


class OutboxRelay:
    name = "outbox-relay"

    def __init__(
        self,
        bus: EventBus,
        collections: Sequence[AsyncCollection[Document]],
        *,
        interval: float = 2.0,
        min_age: float = 5.0,
    ) -> None:
        self.bus = bus
        self.collections = list(collections)
        self.interval = interval
        # The sweep leaves young entries to the inline path of the request that wrote them.
        self.min_age = min_age

    async def deliver(
        self, collection: AsyncCollection[Document], doc_id: Any, entries: Sequence[Document]
    ) -> bool:
        """Publish ``entries`` of one document, then remove them. False if it must wait."""
        try:
            await self._publish_and_clear(collection, doc_id, entries)
        except (RedisError, PyMongoError, OSError) as exc:
            log.warning("outbox delivery deferred to the sweep: %s", exc)
            return False
        RELAYED.labels("inline").inc(len(entries))
        return True

    async def _publish_and_clear(
        self, collection: AsyncCollection[Document], doc_id: Any, entries: Sequence[Document]
    ) -> None:
        await publish_entries(self.bus, entries)
        await clear_entries(collection, doc_id, entries)

    async def sweep(self, min_age: float | None = None) -> int:
        """Publish every entry older than ``min_age`` seconds; returns how many."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.min_age if min_age is None else min_age)
        published = 0
        for collection in self.collections:
            with untraced():
                pending = await collection.find({OUTBOX: {"$exists": True}}, {OUTBOX: 1}).to_list()
            for doc in pending:
                due = [e for e in doc.get(OUTBOX, []) if _aware(e["at"]) <= cutoff]
                if due:
                    await self._publish_and_clear(collection, doc["_id"], due)
                    published += len(due)
        if published:
            RELAYED.labels("sweep").inc(published)
            log.info("outbox sweep published %d pending event(s)", published)
        return published

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except (RedisError, PyMongoError, OSError) as exc:
                log.warning("outbox sweep failed, will retry: %s", exc)
            await pause(stop, self.interval)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
