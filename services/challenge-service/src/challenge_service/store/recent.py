"""The user's recent completions, kept from ``task.completed`` (what challenges are
generated from: ai-service gets the titles, tags and skills of the last ones)."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from deepiri_kit.contracts.agent import RecentTask
from deepiri_kit.contracts.tasks import TaskCompleted
from deepiri_kit.data.mongo import ensure_indexes

Document = dict[str, Any]
KEEP = 20
INDEXES = [IndexModel([("user_id", 1), ("completed_at", -1)], name="user_completed")]


class RecentTasks:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.collection, INDEXES)

    async def remember(self, user_id: str, event_id: str, event: TaskCompleted) -> None:
        with contextlib.suppress(DuplicateKeyError):  # a redelivered event
            await self.collection.insert_one(
                {
                    "_id": event_id,
                    "user_id": user_id,
                    "title": (event.title or "a task")[:200],
                    "tags": event.tags[:20],
                    "skill_ids": event.skill_ids[:20],
                    "completed_at": event.completed_at,
                }
            )

    async def forget(self, user_id: str) -> None:
        """A deleted account's completions go."""
        await self.collection.delete_many({"user_id": user_id})

    async def of(self, user_id: str) -> list[RecentTask]:
        cursor = self.collection.find({"user_id": user_id}).sort([("completed_at", -1)])
        found = []
        async for doc in cursor.limit(KEEP):
            with contextlib.suppress(ValueError):  # a tag ai-service's contract refuses
                found.append(
                    RecentTask(
                        title=doc["title"] or "a task",
                        tags=[t for t in doc["tags"] if _tag(t)],
                        skill_ids=[s for s in doc["skill_ids"] if _skill(s)],
                        completed_at=doc["completed_at"],
                    )
                )
        return found


def _tag(value: str) -> bool:

    return bool(re.fullmatch(r"[\w\-. ]{1,40}", value))


def _skill(value: str) -> bool:

    return bool(re.fullmatch(r"[a-z][a-z0-9-]{0,39}", value))
