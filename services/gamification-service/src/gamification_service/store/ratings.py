"""Ratings per user and category, their history, and matches.

A match is recorded once (``matches._id`` = the caller's ``match_id``): the changes are
computed from the participants' current ratings and stored *in the match document* with
the list of participants still ``pending``. Each participant's rating document is then
advanced by the change with ``$inc`` guarded by ``recent: {$ne: match_id}`` (the match ids
it has already absorbed), so a retry or a concurrent duplicate applies nothing twice. The
participant leaves ``pending`` in the same write that queues its ``rating_changed`` event.
A crash anywhere leaves a pending participant that a retry of the same request, or the
reconciler, finishes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from redis.exceptions import RedisError

from deepiri_kit.clock import utcnow
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import EventBus, outbox_entry
from deepiri_kit.events.outbox import OUTBOX, OUTBOX_INDEX
from gamification_service.domain import ratings as rules
from gamification_service.domain.facts import RatingFacts
from gamification_service.events import publish
from gamification_service.store.boards import Boards

log = logging.getLogger("gamification.ratings")
Document = dict[str, Any]
RECENT_KEEP = 200


class MatchConflict(Exception):
    """The match id was already used for a different result."""


def rating_id(user_id: str, category: str) -> str:
    return f"{user_id}:{category}"


def default_rating(user_id: str, category: str) -> Document:
    return {
        "_id": rating_id(user_id, category),
        "user_id": user_id,
        "category": category,
        "rating": rules.START,
        "peak": rules.START,
        "mu": rules.MU,
        "sigma": rules.SIGMA,
        "wins": 0,
        "losses": 0,
        "draws": 0,
        "matches": 0,
        "win_streak": 0,
        "best_win_streak": 0,
        "version": 0,
        "recent": [],
    }


class RatingStore:
    def __init__(self, db: AsyncDatabase[Document], boards: Boards, bus: EventBus) -> None:
        self.ratings = db["ratings"]
        self.history = db["rating_history"]
        self.matches = db["matches"]
        self.boards = boards
        self.bus = bus

    async def ensure_indexes(self) -> None:
        await ensure_indexes(
            self.ratings,
            [
                IndexModel(
                    [("category", ASCENDING), ("rating", ASCENDING)], name="category_rating"
                ),
                IndexModel([("user_id", ASCENDING)], name="user"),
            ],
        )
        await ensure_indexes(
            self.history,
            [
                IndexModel(
                    [("match_id", ASCENDING), ("user_id", ASCENDING)],
                    name="match_user_unique",
                    unique=True,
                ),
                IndexModel(
                    [("user_id", ASCENDING), ("category", ASCENDING), ("at", DESCENDING)],
                    name="user_category_at",
                ),
                IndexModel([("category", ASCENDING), ("at", ASCENDING)], name="category_at"),
            ],
        )
        await ensure_indexes(
            self.matches,
            [IndexModel([("pending", ASCENDING)], name="pending", sparse=True), OUTBOX_INDEX],
        )

    # --- reading ---------------------------------------------------------------------------

    async def get(self, user_id: str, category: str) -> Document:
        doc = await self.ratings.find_one({"_id": rating_id(user_id, category)}, {"recent": 0})
        return doc or default_rating(user_id, category)

    async def facts(self, user_id: str) -> dict[str, RatingFacts]:
        out: dict[str, RatingFacts] = {}
        async for doc in self.ratings.find({"user_id": user_id}, {"recent": 0}):
            out[doc["category"]] = RatingFacts(
                rating=doc["rating"],
                wins=doc.get("wins", 0),
                losses=doc.get("losses", 0),
                draws=doc.get("draws", 0),
                best_win_streak=doc.get("best_win_streak", 0),
            )
        return out

    async def history_page(
        self, user_id: str, category: str, limit: int, before: tuple[Any, Any] | None
    ) -> list[Document]:
        query: Document = {"user_id": user_id, "category": category}
        if before is not None:
            at, oid = before
            query["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": oid}}]
        cursor = self.history.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.limit(limit).to_list()

    async def opponents(
        self, user_id: str, category: str, limit: int
    ) -> tuple[float, list[Document]]:
        me = await self.get(user_id, category)
        low, high = rules.opponent_range(me["rating"])
        query = {
            "category": category,
            "rating": {"$gte": low, "$lte": high},
            "user_id": {"$ne": user_id},
        }
        above = self.ratings.find(
            {**query, "rating": {"$gte": me["rating"], "$lte": high}}, {"recent": 0}
        )
        below = self.ratings.find(
            {**query, "rating": {"$gte": low, "$lt": me["rating"]}}, {"recent": 0}
        )
        candidates = [
            *await above.sort("rating", ASCENDING).limit(limit).to_list(),
            *await below.sort("rating", DESCENDING).limit(limit).to_list(),
        ]
        by_id = {d["user_id"]: d for d in candidates}
        chosen = rules.closest(
            me["rating"], [(d["user_id"], d["rating"]) for d in candidates], limit
        )
        return me["rating"], [by_id[u] for u, _ in chosen]

    # --- writing ---------------------------------------------------------------------------

    async def record_match(
        self, match_id: str, category: str, teams: Sequence[tuple[Sequence[str], int]]
    ) -> tuple[Document, bool]:
        """Record a result once; returns the match document and whether this call created it."""
        fingerprint = hashlib.sha256(
            msgspec.json.encode([category, [[sorted(m), r] for m, r in teams]])
        ).hexdigest()
        existing = await self.matches.find_one({"_id": match_id})
        if existing is not None:
            return await self._replay(existing, fingerprint), False
        user_ids = [u for members, _ in teams for u in members]
        for user_id in user_ids:
            await self.ratings.update_one(
                {"_id": rating_id(user_id, category)},
                {"$setOnInsert": default_rating(user_id, category)},
                upsert=True,
            )
        current = {
            d["user_id"]: d
            async for d in self.ratings.find(
                {"_id": {"$in": [rating_id(u, category) for u in user_ids]}}, {"recent": 0}
            )
        }
        domain_teams = [
            rules.Team(
                members=tuple(
                    rules.Player(
                        user_id=u,
                        rating=current[u]["rating"],
                        mu=current[u]["mu"],
                        sigma=current[u]["sigma"],
                    )
                    for u in members
                ),
                rank=rank,
            )
            for members, rank in teams
        ]
        changes = rules.rate(domain_teams)
        now = utcnow()
        doc: Document = {
            "_id": match_id,
            "category": category,
            "fingerprint": fingerprint,
            "teams": [{"members": list(m), "rank": r} for m, r in teams],
            "results": [
                {
                    "user_id": c.user_id,
                    "rank": c.rank,
                    "result": c.result,
                    "method": c.method,
                    "delta": c.delta,
                    "mu_delta": c.mu - current[c.user_id]["mu"],
                    "sigma": c.sigma,
                }
                for c in changes
            ],
            "pending": user_ids,
            "at": now,
        }
        try:
            await self.matches.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.matches.find_one({"_id": match_id})
            assert existing is not None
            return await self._replay(existing, fingerprint), False
        return await self.finish(doc), True

    async def _replay(self, existing: Document, fingerprint: str) -> Document:
        if existing["fingerprint"] != fingerprint:
            raise MatchConflict(existing["_id"])
        if existing.get("pending"):
            return await self.finish(existing)
        return existing

    async def finish(self, match: Document) -> Document:
        """Apply the match to every participant still pending (idempotent)."""
        match_id, category = match["_id"], match["category"]
        applied: dict[str, Document] = {}
        for result in match["results"]:
            user_id = result["user_id"]
            if user_id not in match.get("pending", []):
                continue
            after = await self._apply(match_id, category, result)
            history = {
                "match_id": match_id,
                "user_id": user_id,
                "category": category,
                "before": round(after["rating"] - result["delta"], 4),
                "after": after["rating"],
                "delta": result["delta"],
                "result": result["result"],
                "rank": result["rank"],
                "method": result["method"],
                "mu": after["mu"],
                "sigma": after["sigma"],
                "at": match["at"],
            }
            with contextlib.suppress(DuplicateKeyError):  # written before a crash
                await self.history.insert_one(history)
            event = publish.rating_changed(
                user_id,
                {
                    "category": category,
                    "match_id": match_id,
                    "method": result["method"],
                    "result": result["result"],
                    "rank": result["rank"],
                    "before": history["before"],
                    "after": after["rating"],
                    "delta": result["delta"],
                    "peak": max(after.get("peak", rules.START), after["rating"]),
                    "provisional": rules.is_provisional(after["sigma"]),
                },
            )
            await self.matches.update_one(
                {"_id": match_id},
                {
                    "$pullAll": {"pending": [user_id]},
                    "$push": {OUTBOX: outbox_entry(publish.STREAM, event)},
                },
            )
            applied[user_id] = after
        await self.matches.update_one(
            {"_id": match_id, "pending": {"$size": 0}}, {"$unset": {"pending": ""}}
        )
        await self.deliver(match_id)
        fresh = await self.matches.find_one({"_id": match_id})
        return fresh or match

    async def _apply(self, match_id: str, category: str, result: Document) -> Document:
        outcome = result["result"]
        update: Document = {
            "$inc": {
                "rating": result["delta"],
                "mu": result["mu_delta"],
                "matches": 1,
                "version": 1,
                {"win": "wins", "loss": "losses", "draw": "draws"}[outcome]: 1,
            },
            "$set": {"sigma": result["sigma"], "updated_at": utcnow()},
            "$push": {"recent": match_id},
        }
        if outcome == "win":
            update["$inc"]["win_streak"] = 1
        else:
            update["$set"]["win_streak"] = 0
        _id = rating_id(result["user_id"], category)
        after = await self.ratings.find_one_and_update(
            {"_id": _id, "recent": {"$ne": match_id}},
            update,
            return_document=ReturnDocument.AFTER,
        )
        if after is None:  # applied before (a retry): read what is there
            found = await self.ratings.find_one({"_id": _id})
            assert found is not None
            return found
        await self.ratings.update_one(
            {"_id": _id},
            {"$max": {"peak": after["rating"], "best_win_streak": after.get("win_streak", 0)}},
        )
        recent = after.get("recent", [])
        if len(recent) > RECENT_KEEP:
            # $push's $slice is not honoured by every server we run on; trim by value.
            await self.ratings.update_one(
                {"_id": _id}, {"$pullAll": {"recent": recent[: len(recent) - RECENT_KEEP // 2]}}
            )
        after["peak"] = max(after.get("peak", rules.START), after["rating"])
        return after

    async def deliver(self, match_id: str) -> bool:
        """Rating boards first, then the match's events; on a Redis failure the relay retries."""
        match = await self.matches.find_one({"_id": match_id})
        if match is None:
            return True
        entries = match.get(OUTBOX, [])
        try:
            for result in match["results"]:
                doc = await self.ratings.find_one(
                    {"_id": rating_id(result["user_id"], match["category"])}, {"recent": 0}
                )
                if doc is not None:
                    await self.boards.sync_rating(
                        doc["user_id"], doc["category"], doc["version"], doc["rating"], match["at"]
                    )
            for entry in entries:
                await self.bus.publish_raw(entry["stream"], entry["payload"], entry["type"])
        except (RedisError, OSError) as exc:
            log.warning("rating boards/events for match %s deferred: %s", match_id, exc)
            return False
        if entries:
            await self.matches.update_one({"_id": match_id}, {"$pullAll": {OUTBOX: entries}})
            await self.matches.update_one(
                {"_id": match_id, OUTBOX: {"$size": 0}}, {"$unset": {OUTBOX: ""}}
            )
        return True

    async def sweep(self, older_than: float) -> int:
        """Finish matches left pending and publish what is left in their outboxes."""
        cutoff = utcnow() - timedelta(seconds=older_than)
        done = 0
        query = {
            "$or": [{"pending": {"$exists": True}}, {OUTBOX: {"$exists": True}}],
            "at": {"$lte": cutoff},
        }
        async for match in self.matches.find(query):
            try:
                if match.get("pending"):
                    await self.finish(match)
                else:
                    await self.deliver(match["_id"])
                done += 1
            except PyMongoError as exc:
                log.warning("match %s not finished yet: %s", match["_id"], exc)
        return done

    async def participants(self, match: Mapping[str, Any]) -> list[str]:
        return [r["user_id"] for r in match["results"]]
