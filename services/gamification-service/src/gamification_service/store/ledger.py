"""The ledger (collection ``ledger``): the wallets' source of truth, append-only.

Each entry has ``key`` — its idempotency key (``task.completed:todo:<task>``,
``badge:<user>:<badge>``, ``spend:<user>:<Idempotency-Key>``…) under a **unique index**, so a
second delivery of the same event cannot create a second entry — and ``seq``, its position
in the user's ledger: entries are links of per-user chains of the kit's write path
(:mod:`deepiri_kit.chain`, ``_id`` = ``<user>:<seq>``), so an entry claims its number by
being inserted. ``amounts`` are signed integers per currency. Nothing in an entry ever
changes after its insert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit import utcnow
from deepiri_kit.chain import AlreadyRecorded, Chain, link_id
from gamification_service.domain.wallet import Draft, Entry

Document = dict[str, Any]
INDEXES = [
    IndexModel([("key", ASCENDING)], name="key_unique", unique=True),
    IndexModel([("user_id", ASCENDING), ("seq", ASCENDING)], name="user_seq_unique", unique=True),
    IndexModel([("at", ASCENDING)], name="at"),
]
MAX_CLAIMS = 10_000


def to_entry(doc: Document) -> Entry:
    """What the wallet's fold needs from a stored entry."""
    fields = ("seq", "key", "kind", "amounts", "at", "task", "challenge", "badge")
    return msgspec.convert({k: doc[k] for k in fields if k in doc}, Entry)


class Ledger:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.chain = Chain(db["ledger"])
        self.entries = self.chain.links

    async def ensure_indexes(self) -> None:
        await self.chain.ensure_indexes(*INDEXES)

    async def append(
        self,
        user_id: str,
        draft: Draft,
        after: int = 0,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[Document, bool]:
        """Insert ``draft`` at the first free sequence number after ``after``; returns the
        entry and whether this call inserted it (False: the key was recorded before).
        ``extra``: further fields stamped on the entry (e.g. a request's idempotency stamp)."""
        doc: Document = {
            **msgspec.to_builtins(draft, builtin_types=(datetime,)),
            "user_id": user_id,
            "at": utcnow(),
        }
        for name in ("task", "challenge", "badge"):
            if doc.get(name) is None:
                doc.pop(name, None)
        seq = after + 1
        for _ in range(MAX_CLAIMS):
            doc["seq"] = seq
            try:
                link = await self.chain.claim(user_id, seq, doc, extra=extra)
            except AlreadyRecorded:  # the key exists at another number
                existing = await self.entries.find_one({"key": draft.key})
                if existing is not None:
                    return existing, False
                continue  # deleted in between: try the same number again
            if link is not None:
                return link, True
            taken = await self.entry(user_id, seq)
            if taken is not None and taken["key"] == draft.key:
                return taken, False
            seq += 1
        raise RuntimeError(f"could not claim a ledger sequence number for {user_id}")

    async def erase(self, user_id: str) -> int:
        """Delete the user's whole ledger (a deleted account); how many entries went."""
        return await self.chain.erase(user_id)

    async def entry(self, user_id: str, seq: int) -> Document | None:
        return await self.entries.find_one({"_id": link_id(user_id, seq)})

    async def page(
        self, user_id: str, limit: int, before_seq: int | None = None, currency: str | None = None
    ) -> list[Document]:
        """The user's entries, newest first (before ``before_seq``; touching ``currency``)."""
        query: Document = {"user_id": user_id}
        if before_seq is not None:
            query["seq"] = {"$lt": before_seq}
        if currency is not None:
            query[f"amounts.{currency}"] = {"$exists": True}
        return await self.entries.find(query).sort("seq", DESCENDING).limit(limit).to_list()

    async def all_of(self, user_id: str) -> list[Document]:
        """The user's whole ledger, in order."""
        return await self.entries.find({"user_id": user_id}).sort("seq", ASCENDING).to_list()

    async def users(self) -> list[str]:
        return sorted(await self.entries.distinct("user_id"))

    async def newest_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """Per user, the newest sequence number among entries written in [start, end]."""
        newest: dict[str, int] = {}
        query = {"at": {"$gte": start, "$lte": end}}
        async for doc in self.entries.find(query, {"user_id": 1, "seq": 1}):
            newest[doc["user_id"]] = max(newest.get(doc["user_id"], 0), doc["seq"])
        return newest

    async def written_in(self, start: datetime, end: datetime) -> list[Document]:
        """Entries written in [start, end): user, seq, kind and amounts only."""
        query = {"at": {"$gte": start, "$lt": end}}
        fields = {"user_id": 1, "seq": 1, "kind": 1, "amounts": 1}
        return await self.entries.find(query, fields).to_list()

    async def recorded(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` have an entry."""
        query = {"key": {"$in": list(keys)}}
        return {d["key"] async for d in self.entries.find(query, {"key": 1})}
