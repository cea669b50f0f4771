"""MongoDB persistence for tasks."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import Envelope, OutboxRelay, outbox_entry
from deepiri_kit.events.outbox import OUTBOX, OUTBOX_INDEX
from task_service.events import STREAM

Document = dict[str, Any]


class TaskStore:
    def __init__(self, db: AsyncDatabase[Document], relay: OutboxRelay) -> None:
        self.tasks = db["tasks"]
        self.relay = relay

    async def ensure_indexes(self) -> None:
        await ensure_indexes(
            self.tasks,
            [
                IndexModel([("owner", 1), ("created_at", -1), ("_id", -1)], name="owner_created"),
                OUTBOX_INDEX,
            ],
        )

    async def insert(self, task: Document, event_for: Any) -> Document:
        """Insert ``task`` together with the event announcing it (one atomic write)."""
        task["_id"] = ObjectId()
        event: Envelope = event_for(task)
        entry = outbox_entry(STREAM, event)
        await self.tasks.insert_one({**task, OUTBOX: [entry]})
        await self.relay.deliver(self.tasks, task["_id"], [entry])
        return task

    async def get(self, owner: str, task_id: str) -> Document | None:
        if not ObjectId.is_valid(task_id):
            return None
        return await self.tasks.find_one({"_id": ObjectId(task_id), "owner": owner}, {OUTBOX: 0})
