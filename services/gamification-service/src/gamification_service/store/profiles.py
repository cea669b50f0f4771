"""Display names for leaderboards — the only personal detail a board shows.

Taken from ``user.registered`` / ``user.updated`` on ``events.users`` (only the display
name; e-mail and anything else in those events is ignored). MongoDB keeps them; Redis has a
copy (hash ``lb:names``) so a board page costs one HMGET.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from gamification_service.store.boards import Boards

Document = dict[str, Any]


class Profiles:
    def __init__(self, db: AsyncDatabase[Document], boards: Boards) -> None:
        self.users = db["profiles"]
        self.boards = boards

    async def set_name(self, user_id: str, display_name: str | None, at: datetime) -> bool:
        """Keep the newest name (events can arrive out of order). False if ours was newer."""
        try:
            result = await self.users.update_one(
                {"_id": user_id, "$or": [{"at": {"$lt": at}}, {"at": {"$exists": False}}]},
                {"$set": {"display_name": display_name, "at": at}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # a newer name is already stored
        if result.matched_count == 0 and result.upserted_id is None:
            return False
        await self.boards.set_names({user_id: display_name or ""})
        return True

    async def erase(self, user_id: str) -> None:
        """Forget the user's display name (a deleted account), here and in Redis."""
        await self.users.delete_one({"_id": user_id})
        await self.boards.forget_names([user_id])

    async def names(self, user_ids: list[str]) -> dict[str, str | None]:
        cached = await self.boards.names(user_ids)
        return {u: (n or None) for u, n in cached.items()}

    async def all_names(self) -> dict[str, str]:
        return {
            d["_id"]: d.get("display_name") or ""
            async for d in self.users.find({}, {"display_name": 1})
        }
