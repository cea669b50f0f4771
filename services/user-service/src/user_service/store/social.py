"""The social graph in MongoDB.

``social_log``: the kit's write path (:class:`deepiri_kit.chain.Chain`), one chain per *pair*
of people (key :func:`~user_service.domain.social.pair_key`), one link per change holding
the whole pair after it and its events (the outbox). Whoever inserts change ``n+1`` first
wins; the other re-reads and applies its rule to the winner's result — the race-safety
FerretDB's non-atomic conditional updates cannot give. ``social_log_heads`` points near each
chain's head.

``social_edges``: the read model, one document per pair (``users`` both ids), projected
from the chain and never backwards, for the lists (friends, requests, blocks,
suggestions). Decisions about a pair read its chain, never this view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit import Periodic, utcnow
from deepiri_kit.chain import Chain, link_seq
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import EventBus
from user_service.domain.social import Pair, pair_key

Document = dict[str, Any]
EDGE_INDEXES = [IndexModel([("users", 1)], name="users")]


def _render(link: Document) -> Document:
    return {**link["pair"], "version": link_seq(link)}


class SocialStore:
    def __init__(self, db: AsyncDatabase[Document], bus: EventBus) -> None:
        self.heads = db["social_log_heads"]
        self.edges = db["social_edges"]
        # The sweep projects a link its writer left before delivering its events.
        self.log = Chain(
            db["social_log"], bus, cache=10_000, pointers=self.heads, repair=self._project
        )
        self.links = self.log.links

    async def ensure_indexes(self) -> None:
        await self.log.ensure_indexes(*EDGE_INDEXES)
        await ensure_indexes(self.edges, EDGE_INDEXES)

    async def pair(self, one: str, other: str) -> tuple[Pair, int]:
        """The pair as its newest change left it, and that change's seq (0: none yet)."""
        link = await self.log.head(pair_key(one, other))
        if link is None:
            return Pair.of(one, other), 0
        return msgspec.convert(link["pair"], Pair), link_seq(link)

    async def record(
        self,
        pair: Pair,
        seq: int,
        *,
        actor: str,
        rule: str,
        outbox: Sequence[Document] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> Document | None:
        """Claim change ``seq`` of the pair (None: another writer was first), then bring the
        read model up to it."""
        key = pair_key(*pair.users)
        fields = {
            "users": list(pair.users),
            "pair": msgspec.to_builtins(pair),
            "actor": actor,
            "rule": rule,
            "at": utcnow(),
        }
        link = await self.log.claim(key, seq, fields, outbox=outbox, extra=extra)
        if link is not None:
            await self._project(key, link)
        return link

    async def _project(self, key: str, link: Document) -> None:
        await self.log.project(self.edges, key, link, _render)

    async def deliver(self, link: Document) -> bool:
        return await self.log.deliver(link)

    # --- the read model ---------------------------------------------------------------------

    async def edges_of(self, user: str) -> list[Pair]:
        """Every pair ``user`` is part of that holds something (not emptied ones)."""
        found = await self.edges.find({"users": user}).to_list()
        return [_pair(doc) for doc in found if _holds(doc)]

    async def friendships_of(self, user: str) -> dict[str, int]:
        """``user``'s friends, each with the number of their pair's newest change."""
        found = await self.edges.find({"users": user, "friends": True}).to_list()
        return {_pair(doc).other(user): int(doc["version"]) for doc in found}

    async def friends_of_each(self, users: Iterable[str]) -> dict[str, set[str]]:
        """Each of ``users``' friends (one query for them all)."""
        wanted = set(users)
        found = await self.edges.find({"users": {"$in": list(wanted)}, "friends": True}).to_list()
        friends: dict[str, set[str]] = {u: set() for u in wanted}
        for doc in found:
            a, b = doc["users"]
            if a in wanted:
                friends[a].add(b)
            if b in wanted:
                friends[b].add(a)
        return friends

    async def erase(self, user: str) -> None:
        """Forget every pair of a deleted account (their friends lose a friend silently)."""
        gone = await self.links.distinct("_id", {"users": user})
        keys = {str(i).rsplit(":", 1)[0] for i in gone}
        for key in keys:
            self.log.forget(key)
        await self.heads.delete_many({"_id": {"$in": list(keys)}})
        await self.links.delete_many({"users": user})
        await self.edges.delete_many({"users": user})

    def workers(self) -> list[Periodic]:
        return self.log.workers()


def _pair(doc: Document) -> Pair:
    return msgspec.convert({k: v for k, v in doc.items() if k not in ("_id", "version")}, Pair)


def _holds(doc: Document) -> bool:
    return bool(
        doc.get("friends")
        or doc.get("requested_by")
        or doc.get("blocked_by")
        or doc.get("following")
    )
