"""What the events told about each player, for generating and playing their challenges:

* their level — ``gamification.level_up`` (gamification-service owns XP and levels);
* their skills' levels — ``skill.leveled`` (user-service's skill trees);
* their time zone — ``user.registered`` / ``user.updated`` (the profile; notification-service
  keeps quiet hours from the same events).

One document per fact (``<user>:level``, ``<user>:zone``, ``<user>:skill:<id>``): facts from
different streams are written by different consumers at once, and FerretDB's updates read and
write back the whole document, so facts sharing one would overwrite each other. Levels only
rise (an older event redelivered never lowers one); the newest profile's zone wins (by the
event's ``occurred_at``: a replay after Redis lost the bus may bring an older profile last).

A deleted account's facts are erased and its tombstone (the kit's ``Tombstones``,
``erased_users``) kept: an event for it arriving later — late, or replayed after the
deletion — writes nothing, and one written while the erasure ran is erased again.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

import msgspec
from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from challenge_service.domain.challenges import PlayerFacts
from deepiri_kit import stored_time
from deepiri_kit.contracts.agent import SkillLevel
from deepiri_kit.data.mongo import Tombstones, ensure_indexes

Document = dict[str, Any]
INDEXES = [IndexModel([("user_id", 1)], name="user")]
MAX_SKILLS = 50  # what ai-service's contract takes


class PlayerFactsStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self.erased = Tombstones(collection.database)

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.collection, INDEXES)

    async def _keep(self, user_id: str, doc_id: str, doc: Document, older: Document) -> None:
        """Replace the fact ``doc_id`` where it matches ``older`` (or insert it); a newer
        one stored makes the upsert's insert collide. Nothing for an erased account."""
        if await self.erased.buried(user_id):
            return
        async with self.erased.undone_if_buried([user_id], self.forget):
            await self._replace(doc_id, doc, older)

    async def _replace(self, doc_id: str, doc: Document, older: Document) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self.collection.replace_one({"_id": doc_id, **older}, doc, upsert=True)

    async def _raise(self, user_id: str, doc_id: str, doc: Document) -> None:
        await self._keep(user_id, doc_id, doc, {"level": {"$lt": doc["level"]}})

    async def raise_level(self, user_id: str, level: int) -> None:
        await self._raise(user_id, f"{user_id}:level", {"user_id": user_id, "level": level})

    async def raise_skill(self, user_id: str, skill_id: str, level: int) -> None:
        doc = {"user_id": user_id, "skill_id": skill_id, "level": level}
        await self._raise(user_id, f"{user_id}:skill:{skill_id}", doc)

    async def set_zone(self, user_id: str, zone: str, at: datetime) -> None:
        """The zone of the newest profile announced (events may arrive out of order)."""
        at = stored_time(at)
        doc = {"user_id": user_id, "zone": zone, "at": at}
        await self._keep(user_id, f"{user_id}:zone", doc, {"at": {"$lt": at}})

    async def zone_of(self, user_id: str) -> str:
        doc = await self.collection.find_one({"_id": f"{user_id}:zone"})
        return str(doc["zone"]) if doc else "UTC"

    async def of(self, user_id: str) -> PlayerFacts:
        level, zone, skills = 1, "UTC", []
        async for doc in self.collection.find({"user_id": user_id}):
            if doc["_id"] == f"{user_id}:level":
                level = int(doc["level"])
            elif doc["_id"] == f"{user_id}:zone":
                zone = str(doc["zone"])
            elif "skill_id" in doc:
                fact = {"skill_id": doc["skill_id"], "level": doc["level"]}
                with contextlib.suppress(msgspec.ValidationError):  # one the contract refuses
                    skills.append(msgspec.convert(fact, SkillLevel))
        skills.sort(key=lambda s: (-s.level, s.skill_id))
        return PlayerFacts(level=level, time_zone=zone, skills=tuple(skills[:MAX_SKILLS]))

    async def erase(self, user_id: str, deleted_at: datetime) -> None:
        """The account was deleted: its tombstone first, then its facts."""
        await self.erased.bury(user_id, deleted_at)
        await self.forget(user_id)

    async def forget(self, user_id: str) -> None:
        await self.collection.delete_many({"user_id": user_id})
