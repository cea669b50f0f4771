"""The social graph in MongoDB.

``social_log``: the kit's write path (:class:`deepiri_kit.chain.Chain`), one chain per *pair*
of people (key :func:`~user_service.domain.social.pair_key`), one link per change holding
the whole pair after it and its events (the outbox, and the journal the bus guard replays
when Redis lost them: :mod:`deepiri_kit.events.replay`). Whoever inserts change ``n+1`` first
wins; the other re-reads and applies its rule to the winner's result — the race-safety
FerretDB's non-atomic conditional updates cannot give. ``social_log_heads`` points near each
chain's head.

``social_edges``: the read model, one document per pair (``users`` both ids), projected
from the chain and never backwards: the durable copy of the graph. The lists (friends,
requests, blocks, suggestions) read its projection in Redis, :mod:`.social_index`, which is
projected right after it and rebuilt from it when Redis has lost it. Decisions about a pair
read its chain, never these views.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import msgspec
import pymongo
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from redis.exceptions import RedisError

from deepiri_kit import Periodic, utcnow
from deepiri_kit.chain import Chain, link_seq
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import EventBus, Journal, journalled
from user_service.domain.accounts import Account, Visibility
from user_service.domain.social import Pair, pair_key
from user_service.store.social_index import SocialIndex

Document = dict[str, Any]
log = logging.getLogger("user_service.social")
# Every field of a pair that holds a tie (an emptied pair holds none: lists skip it).
TIES = ("friends", "requested_by", "teammates", "invited_by", "blocked_by", "following", "rivals")
REBUILD_SECONDS = 900
EDGE_INDEXES = [IndexModel([("users", 1)], name="users")]


def _render(link: Document) -> Document:
    return {**link["pair"], "version": link_seq(link)}


class SocialStore:
    def __init__(self, db: AsyncDatabase[Document], bus: EventBus, redis: Redis) -> None:
        self.heads = db["social_log_heads"]
        self.edges = db["social_edges"]
        self.users = db["users"]  # the account read model: who is not public, for a rebuild
        self.index = SocialIndex(redis)
        # The sweep projects a link its writer left before delivering its events.
        self.log = Chain(
            db["social_log"], bus, cache=10_000, pointers=self.heads, repair=self._project
        )
        self.links = self.log.links
        # What the bus guard replays when Redis lost events: every change's, by its time.
        self.journal = Journal(self.links, time_field="at")

    async def ensure_indexes(self) -> None:
        await self.log.ensure_indexes(*EDGE_INDEXES, IndexModel([("at", 1)], name="social_at"))
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
            **journalled(outbox),  # kept for replays (deepiri_kit.events.replay)
        }
        link = await self.log.claim(key, seq, fields, outbox=outbox, extra=extra)
        if link is not None:
            await self._project(key, link)
        return link

    async def _project(self, key: str, link: Document) -> None:
        await self.log.project(self.edges, key, link, _render)
        # The index follows the chain too: version-guarded, so whoever projects last, the
        # newest link wins (a newer one is projected by its own writer).
        edge = _render(link)
        await self.index.project(key, edge, _holds(edge))

    async def reindex(self, one: str, other: str) -> None:
        """Put the pair's newest change in the index again (idempotent): a retried request
        heals an index its first attempt could not reach (Redis unreachable)."""
        key = pair_key(one, other)
        link = await self.log.head(key)
        if link is not None:
            edge = _render(link)
            await self.index.project(key, edge, _holds(edge))

    async def deliver(self, link: Document) -> bool:
        return await self.log.deliver(link)

    # --- the read model ---------------------------------------------------------------------

    async def edges_of(self, user: str) -> list[Pair]:
        """Every pair ``user`` is part of that holds something (emptied ones are dropped)."""
        await self._ready()
        return [_pair(doc) for doc in await self.index.pairs_of(user)]

    async def friendships_of(self, user: str) -> dict[str, int]:
        """``user``'s friends, each with the number of their pair's newest change."""
        found = await self.edges.find({"users": user, "friends": True}).to_list()
        return {_pair(doc).other(user): int(doc["version"]) for doc in found}

    async def friends_of_each(self, users: Iterable[str]) -> dict[str, set[str]]:
        """Each of ``users``' friends (one pipeline for them all)."""
        await self._ready()
        return await self.index.friends_of_each(users)

    async def _ready(self) -> None:
        # FerretDB answers a scan's first batch only once it has read the whole collection
        # (minutes at millions of pairs): the rebuild's reads get their own deadline.
        with pymongo.timeout(REBUILD_SECONDS):
            await self.index.ready(self._every_edge, self._hidden_people)

    async def rebuild_index(self) -> None:
        """Drop the index and build it again from ``social_edges`` (an operator's repair)."""
        await self.index.clear()
        await self._ready()

    async def account_changed(self, user: str, version: int, account: Account) -> None:
        """Keep the index's visibility of ``user`` (an account's change was projected). The
        change stands without Redis: its link carries events, so the sweeper projects it
        again (and this with it) once Redis answers."""
        try:
            await self.index.set_visibility(user, version, account.visibility)
        except RedisError as exc:
            log.warning("visibility of %s not indexed yet: %s", user, type(exc).__name__)

    async def visibilities(self, users: Iterable[str]) -> dict[str, Visibility]:
        """The visibility of each of ``users`` who is not public (from the index: FerretDB
        finds even one account by ``_id`` by scanning)."""
        await self._ready()
        found = await self.index.visibilities(users)
        return {u: "private" if v == "private" else "friends" for u, v in found.items()}

    async def _hidden_people(self) -> AsyncIterator[tuple[str, int, str]]:
        hidden = {"visibility": {"$in": ["friends", "private"]}}
        async for doc in self.users.find(hidden, {"visibility": 1, "version": 1}, batch_size=1000):
            yield str(doc["_id"]), int(doc.get("version", 0)), str(doc["visibility"])

    async def _every_edge(self) -> AsyncIterator[tuple[str, Document, bool]]:
        # Small batches: FerretDB reads a few thousand documents a second, and one reply must
        # come within the driver's socket timeout.
        async for doc in self.edges.find({}, batch_size=1000):
            yield str(doc["_id"]), doc, _holds(doc)

    async def erase(self, user: str) -> None:
        """Forget every pair of a deleted account (their friends lose a friend silently)."""
        gone = await self.links.distinct("_id", {"users": user})
        keys = {str(i).rsplit(":", 1)[0] for i in gone}
        for key in keys:
            self.log.forget(key)
        # Also whom the index pairs them with: a repeated erasure finds the links gone.
        indexed = [doc["users"] for doc in await self.index.pairs_of(user)]
        others = {_other(key, user): key for key in keys}
        others |= {u: pair_key(*users) for users in indexed for u in users if u != user}
        await self.heads.delete_many({"_id": {"$in": list(keys)}})
        await self.links.delete_many({"users": user})
        await self.edges.delete_many({"users": user})
        await self.index.erase(user, others)  # last: a rebuild meanwhile cannot bring them back

    def workers(self) -> list[Periodic]:
        return self.log.workers()


def _pair(doc: Document) -> Pair:
    return msgspec.convert({k: v for k, v in doc.items() if k not in ("_id", "version")}, Pair)


def _holds(doc: Document) -> bool:
    return any(doc.get(tie) for tie in TIES)


def _other(key: str, user: str) -> str:
    """The person paired with ``user`` under the pair key ``key`` (see ``pair_key``)."""
    length, ids = key.split(":", 1)
    a, b = ids[: int(length)], ids[int(length) + 1 :]
    return b if a == user else a
