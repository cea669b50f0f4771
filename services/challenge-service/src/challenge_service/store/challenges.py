"""Challenges in MongoDB, on the kit's write path (``deepiri_kit.chain``).

* ``challenge_links`` — one chain per challenge (key ``ch:<id>``): every state is a link
  (offered, accepted, started, ended…), claimed by unique insert, so two racing changes
  cannot both win; the link that ends a challenge carries its ``challenge.completed`` events
  (the outbox), delivered at once or by the chain's sweeper after a crash.
* ``challenges`` — the read model, projected from each chain's head (never backwards).
* ``progress_links`` — one chain per player and challenge (key ``p:<id>:<user>``): each
  counted contribution is a link holding the new total; its ``counts`` field (unique) names
  what was counted (a task, a day, an event), so nothing counts twice.
* A task's one exclusive challenge is its ``claims`` key ``<user>:<task>``, unique across
  ``progress_links``: on the count itself where a task counts once per challenge (one
  insert claims and counts), else (a streak counts a habit on every day it is done) on a
  *claim marker* ``{_id: "claim:<user>:<task>", claims, challenge_id}`` inserted before
  counting. Claims made before (``task_claims``) are carried over at start.
* ``friendships`` — the social graph as user-service announced it (newest change wins).

Erasing a deleted account is the one time links change or go (:meth:`ChallengeStore.naming`,
:meth:`~ChallengeStore.erase_challenge`, :meth:`~ChallengeStore.scrub`,
:meth:`~ChallengeStore.erase_progress`, :meth:`~ChallengeStore.forget_friendships`): a
challenge only they played goes whole; in a shared one every link that named them is
rewritten without them, after the link that took them out (so no writer can build on a
state that still names them); their progress chains and claims go.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import msgspec
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from challenge_service.domain.challenges import Challenge, Progress
from deepiri_kit.chain import OUTBOX, AlreadyRecorded, Chain, link_key, link_seq
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import EventBus

Document = dict[str, Any]
VIEW_INDEXES = [
    IndexModel([("members", ASCENDING), ("created_at", -1)], name="member_created"),
    IndexModel([("status", ASCENDING), ("deadline", ASCENDING)], name="status_deadline"),
]
COUNTS_INDEX = IndexModel([("counts", ASCENDING)], name="counts", unique=True, sparse=True)
CLAIMS_INDEX = IndexModel([("claims", ASCENDING)], name="claims", unique=True, sparse=True)
ATTEMPTS = 50


def challenge_key(challenge_id: str) -> str:
    return f"ch:{challenge_id}"


def progress_key(challenge_id: str, user_id: str) -> str:
    return f"p:{challenge_id}:{user_id}"


def task_claim(user_id: str, task_id: str) -> str:
    """The unique key that makes a player's task count for one exclusive challenge."""
    return f"{user_id}:{task_id}"


def claim_marker(claim: str) -> str:
    return f"claim:{claim}"


def to_document(challenge: Challenge) -> Document:
    return msgspec.to_builtins(challenge, builtin_types=(datetime,))  # type: ignore[no-any-return]


def as_challenge(doc: Document) -> Challenge:
    fields = {k: v for k, v in doc.items() if k in Challenge.__struct_fields__}
    return msgspec.convert(fields, Challenge, builtin_types=(datetime,))


class ChallengeStore:
    def __init__(self, db: AsyncDatabase[Document], bus: EventBus) -> None:
        self.log = Chain(db["challenge_links"], bus, cache=2000, repair=self._repair)
        self.progress_log = Chain(db["progress_links"], cache=5000)
        self.view = db["challenges"]
        self.legacy_claims = db["task_claims"]
        self.friendships = db["friendships"]

    async def ensure_indexes(self) -> None:
        await self.log.ensure_indexes()
        await self.progress_log.ensure_indexes(COUNTS_INDEX, CLAIMS_INDEX)
        await ensure_indexes(self.view, VIEW_INDEXES)
        await self.carry_over_claims()

    async def carry_over_claims(self) -> int:
        """Claims made while they lived in ``task_claims`` become claim markers (the task
        stays its challenge's), then that collection goes: idempotent, a no-op once done. A
        claim a pod of the older version makes during a rolling update, after this ran, is
        not carried over."""
        carried = 0
        async for doc in self.legacy_claims.find({}):
            with contextlib.suppress(DuplicateKeyError):  # carried before
                await self.progress_log.links.insert_one(
                    {
                        "_id": claim_marker(doc["_id"]),
                        "claims": doc["_id"],
                        "challenge_id": doc["challenge_id"],
                    }
                )
                carried += 1
        await self.legacy_claims.drop()  # every claim it held is a marker now
        return carried

    # --- challenges -------------------------------------------------------------------------

    def _render(self, link: Document) -> Document:
        state = link["state"]
        return {
            **state,
            "version": link_seq(link),
            "members": [p["user_id"] for p in state["players"]],
        }

    async def _repair(self, key: str, link: Document) -> None:
        await self.log.project(self.view, link["state"]["id"], link, self._render)

    async def head(self, challenge_id: str) -> tuple[Challenge, int] | None:
        link = await self.log.head(challenge_key(challenge_id))
        return None if link is None else (as_challenge(link["state"]), link_seq(link))

    async def current(self, challenge_id: str) -> Challenge | None:
        """The challenge as its head says, at one lookup when this process has seen it: links
        are immutable and challenge chains never deleted, so a cached link stands unless a
        newer one exists (the one read that checks it)."""
        key = challenge_key(challenge_id)
        cached = self.log.cached(key)
        if cached is None:
            found = await self.head(challenge_id)
            return None if found is None else found[0]
        link = await self.log.newer(key, link_seq(cached)) or cached
        return as_challenge(link["state"])

    async def write(
        self, challenge: Challenge, seq: int, outbox: list[Document] | None = None
    ) -> bool:
        """Claim state ``seq`` of the challenge (False: someone else changed it first),
        project it and deliver its events."""
        link = await self.log.claim(
            challenge_key(challenge.id),
            seq,
            {"state": to_document(challenge)},
            outbox=outbox or (),
        )
        if link is None:
            return False
        await self._repair(challenge_key(challenge.id), link)
        await self.log.deliver(link)
        return True

    async def of_member(self, user_id: str, statuses: list[str], limit: int) -> list[Challenge]:
        cursor = self.view.find({"members": user_id, "status": {"$in": statuses}}).sort(
            [("created_at", -1), ("_id", -1)]
        )
        return [as_challenge(doc) async for doc in cursor.limit(limit)]

    async def playing(self) -> AsyncIterator[tuple[str, str]]:
        """``(user, challenge id)`` for every player invited to or playing a challenge that
        is open or running (what the running index is rebuilt from: a scan, done rarely)."""
        cursor = self.view.find(
            {"status": {"$in": ["available", "active"]}}, {"players": 1, "status": 1}
        )
        async for doc in cursor:
            for player in doc["players"]:
                if player["state"] in ("invited", "accepted"):
                    yield player["user_id"], doc["_id"]

    async def due(self, now: datetime, limit: int = 200) -> list[str]:
        """Ids of challenges whose deadline or offer has passed (the view may lag; the
        worker decides on the chain's head)."""
        cursor = self.view.find(
            {
                "$or": [
                    {"status": "active", "deadline": {"$lte": now}},
                    {"status": "available", "offer_expires_at": {"$lte": now}},
                ]
            },
            {"_id": 1},
        )
        return [doc["_id"] async for doc in cursor.limit(limit)]

    # --- progress ---------------------------------------------------------------------------

    async def progress(
        self, challenge_id: str, user_id: str, *, cached: bool = False
    ) -> tuple[Progress, int]:
        """The player's progress and its seq. ``cached``: the newest link this process has
        seen, without reading (a writer claims the next seq from it; if another process
        moved on, the claim loses and the writer reads afresh)."""
        key = progress_key(challenge_id, user_id)
        link = self.progress_log.cached(key) if cached else None
        if link is None:
            link = await self.progress_log.head(key)
        if link is None:
            return Progress(), 0
        return msgspec.convert(link["progress"], Progress, builtin_types=(datetime,)), link_seq(
            link
        )

    async def count(
        self,
        challenge_id: str,
        user_id: str,
        seq: int,
        progress: Progress,
        counted: str,
        *,
        claim: str | None = None,
    ) -> bool | None:
        """Record ``progress`` as contribution ``seq``: True, or False when that seq was taken
        (re-read and decide again), or None when ``counted`` was counted before. ``claim``
        (:func:`task_claim`) claims the task with the count, in the same insert: None too
        when another challenge holds it."""
        extra = {"counts": f"{challenge_id}:{user_id}:{counted}"}
        if claim is not None:
            extra["claims"] = claim
        try:
            link = await self.progress_log.claim(
                progress_key(challenge_id, user_id),
                seq,
                {"progress": msgspec.to_builtins(progress, builtin_types=(datetime,))},
                extra=extra,
            )
        except AlreadyRecorded:
            return None
        return link is not None

    # --- anti-abuse -------------------------------------------------------------------------

    async def claim_task(self, user_id: str, task_id: str, challenge_id: str) -> str | None:
        """Claim ``user_id``'s task for ``challenge_id`` apart from its counts (a challenge
        that counts a task more than once: a streak) by a claim marker: ``challenge_id`` if
        the task was unclaimed or is its already, else the marker's other challenge, or None
        when another challenge's count holds the claim."""
        claim = task_claim(user_id, task_id)
        links = self.progress_log.links
        with contextlib.suppress(DuplicateKeyError):
            await links.insert_one(
                {"_id": claim_marker(claim), "claims": claim, "challenge_id": challenge_id}
            )
            return challenge_id
        marker = await links.find_one({"_id": claim_marker(claim)})
        return None if marker is None else str(marker["challenge_id"])

    # --- a deleted account -----------------------------------------------------------------

    async def naming(self, user_id: str) -> list[str]:
        """Ids of the challenges any link names ``user_id`` in (owner or player), whatever
        their status: what erasing the account visits. A scan of every link (rare)."""
        found = set()
        async for link in self.log.links.find({}, {"state": 1}):
            state = link.get("state")
            if state is not None and _names(state, user_id):
                found.add(str(state["id"]))
        async for doc in self.view.find({"members": user_id}, {"_id": 1}):
            found.add(str(doc["_id"]))
        return sorted(found)

    async def erase_challenge(self, challenge_id: str) -> None:
        """Delete the challenge whole: every player's progress and the claim markers naming
        it, its read model, and its chain last (what finds it again if this is cut short)."""
        prefix = re.escape(progress_key(challenge_id, ""))
        await self.progress_log.erase(*await self._progress_keys(f"^{prefix}"))
        await self.progress_log.links.delete_many(
            {"_id": {"$regex": "^claim:"}, "challenge_id": challenge_id}
        )
        await self.view.delete_one({"_id": challenge_id})
        await self.log.erase(challenge_key(challenge_id))

    async def scrub(
        self,
        challenge_id: str,
        user_id: str,
        clean: Callable[[Challenge], tuple[Challenge, list[Document]]],
    ) -> int:
        """Rewrite every link of the challenge that names ``user_id`` through ``clean``
        (the state without them, and the events such an end announces): an outbox not yet
        delivered is replaced by ``clean``'s events, a delivered one stripped (as compaction
        would). Links are otherwise immutable: only an erasure rewrites them, after writing
        the head that no longer names them. How many links changed."""
        key = challenge_key(challenge_id)
        pattern = {"$regex": f"^{re.escape(key)}:[0-9]{{12}}$"}
        delivered = {m["_id"] async for m in self.log.delivered.find({"_id": pattern}, {"_id": 1})}
        rewritten = 0
        for link in await self.log.links.find({"_id": pattern}).to_list():
            if not _names(link["state"], user_id):
                continue
            kept, events = clean(as_challenge(link["state"]))
            update: Document = {"$set": {"state": to_document(kept)}}
            if OUTBOX in link:
                if events and link["_id"] not in delivered:
                    update["$set"][OUTBOX] = events
                else:
                    update["$unset"] = {OUTBOX: ""}
            await self.log.links.update_one({"_id": link["_id"]}, update)
            rewritten += 1
        self.log.forget(key)
        return rewritten

    async def erase_progress(self, user_id: str) -> int:
        """Every progress chain of ``user_id`` (the claims riding on their counts go with
        them) and their claim markers; how many links went."""
        player = re.escape(user_id)
        keys = await self._progress_keys(f"^p:[0-9a-f]{{32}}:{player}:[0-9]{{12}}$")
        erased = await self.progress_log.erase(*keys)
        await self.progress_log.links.delete_many(
            {"_id": {"$regex": f"^{re.escape(claim_marker(task_claim(user_id, '')))}"}}
        )
        return erased

    async def _progress_keys(self, pattern: str) -> list[str]:
        cursor = self.progress_log.links.find({"_id": {"$regex": pattern}}, {"_id": 1})
        return sorted({link_key(link) async for link in cursor})

    async def forget_friendships(self, user_id: str) -> None:
        player = re.escape(user_id)
        pairs = {"$regex": f"^{player}\\||\\|{player}$"}
        await self.friendships.delete_many({"_id": pairs})

    # --- friends ----------------------------------------------------------------------------

    @staticmethod
    def _pair(a: str, b: str) -> str:
        return "|".join(sorted((a, b)))

    async def set_friends(self, a: str, b: str, friends: bool, at: datetime) -> None:
        """Keep the newest announced state of the pair (events may arrive out of order)."""
        pair = self._pair(a, b)
        doc = {"friends": friends, "at": at}
        with contextlib.suppress(DuplicateKeyError):  # a newer state is stored already
            await self.friendships.replace_one({"_id": pair, "at": {"$lt": at}}, doc, upsert=True)

    async def friends_among(self, user_id: str, others: list[str]) -> set[str]:
        pairs = {self._pair(user_id, o): o for o in others}
        cursor = self.friendships.find({"_id": {"$in": list(pairs)}, "friends": True})
        return {pairs[doc["_id"]] async for doc in cursor}


def _names(state: Document, user_id: str) -> bool:
    """Whether a stored challenge state names ``user_id`` (owner, player or result)."""
    return (
        state.get("owner") == user_id
        or any(p.get("user_id") == user_id for p in state.get("players") or ())
        or any(r.get("user_id") == user_id for r in state.get("result") or ())
    )
