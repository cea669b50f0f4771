"""Skill progress in MongoDB: ``skill_log``, the kit's write path (:class:`deepiri_kit.chain.
Chain`), one chain per user, one link per change (XP from a completion, an unlock). Each link
holds the user's whole progress after the change, the change's ``key`` under a **unique
index** (a completion trains once, a skill is unlocked once, whatever the retries) and its
events (the outbox, and the journal the bus guard replays when Redis lost them), so change
and events are one insert. ``skill_log_heads`` points near
each chain's head so a process that has not seen a user yet walks a few links, not all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit import Periodic, utcnow
from deepiri_kit.chain import Chain, link_seq
from deepiri_kit.events import EventBus, Journal, journalled
from user_service.domain.skills import Progress

Document = dict[str, Any]
INDEXES = [IndexModel([("key", 1)], name="key_unique", unique=True)]


class SkillStore:
    def __init__(self, db: AsyncDatabase[Document], bus: EventBus) -> None:
        self.heads = db["skill_log_heads"]
        self.log = Chain(db["skill_log"], bus, cache=10_000, pointers=self.heads)
        self.links = self.log.links
        # What the bus guard replays when Redis lost events: every change's, by its time.
        self.journal = Journal(self.links, time_field="at")

    async def ensure_indexes(self) -> None:
        await self.log.ensure_indexes(*INDEXES, IndexModel([("at", 1)], name="skill_at"))

    async def head(self, user_id: str) -> tuple[Progress, int]:
        """The user's progress as the newest change left it, and that change's seq (0: none)."""
        link = await self.log.head(user_id)
        if link is None:
            return Progress(), 0
        return msgspec.convert(link["progress"], Progress), link_seq(link)

    async def record(
        self,
        user_id: str,
        seq: int,
        *,
        key: str,
        kind: str,
        progress: Progress,
        ref: Mapping[str, Any],
        outbox: Sequence[Document] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> Document | None:
        """Claim change ``seq`` (None: another writer was first). Raises
        :class:`deepiri_kit.chain.AlreadyRecorded` when ``key`` was recorded before."""
        fields = {
            "user_id": user_id,
            "key": key,
            "kind": kind,
            "progress": msgspec.to_builtins(progress),
            "ref": dict(ref),
            "at": utcnow(),
            **journalled(outbox),  # kept for replays (deepiri_kit.events.replay)
        }
        return await self.log.claim(user_id, seq, fields, outbox=outbox, extra=extra)

    async def recorded(self, key: str) -> bool:
        return await self.links.find_one({"key": key}, {"_id": 1}) is not None

    async def erase(self, user_id: str) -> None:
        """Forget the user's progress (their account is deleted). Another process's cached
        head then names a missing link, and its next read finds the chain empty."""
        self.log.forget(user_id)
        await self.heads.delete_one({"_id": user_id})
        await self.links.delete_many({"user_id": user_id})

    async def deliver(self, link: Document) -> bool:
        return await self.log.deliver(link)

    def workers(self) -> list[Periodic]:
        """Publishes what a crash or a Redis outage left undelivered; compacts outboxes."""
        return self.log.workers()
