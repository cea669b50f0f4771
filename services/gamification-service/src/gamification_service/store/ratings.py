"""Ratings per user and category, their history, and matches.

A player's rating in a category is a chain of the kit's write path (:mod:`deepiri_kit.chain`)
keyed ``<user>:<category>``: every match they play appends one ``rating_history`` link (also
unique per match and user) holding the change *and* the resulting rating, peak, μ, sigma
and W/L/D counters, plus its ``rating_changed`` event (outbox). The newest link is the
rating. Appending is the commit point: a retry or a concurrent duplicate of the same match
for the same player hits a unique index and applies nothing twice; two different matches
racing for the same player both land, one after the other (the loser re-reads the head).

A match is recorded once (``matches._id`` = the caller's ``match_id``) with everyone's
change computed from their ratings at that moment and the participants still ``pending``;
a crash anywhere leaves pending participants that a retry of the same request or the
reconciler finishes. ``ratings`` holds each player's latest rating for queries across
players (opponents, rebuilds): the chain's read model, projected after every append.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from deepiri_kit import idempotency_stamp
from deepiri_kit.chain import OUTBOX, AlreadyRecorded, Chain
from deepiri_kit.clock import utcnow
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import EventBus, outbox_entry
from gamification_service.domain import ratings as rules
from gamification_service.domain.facts import RatingFacts
from gamification_service.events import publish
from gamification_service.store.boards import Boards

log = logging.getLogger("gamification.ratings")
Document = dict[str, Any]
HEAD_CACHE = 100_000


class MatchConflict(Exception):
    """The match id was already used for a different result."""


def rating_id(user_id: str, category: str) -> str:
    return f"{user_id}:{category}"


def head_state(doc: Document) -> Document:
    """A history document read as the player's rating after it."""
    return {
        "_id": rating_id(doc["user_id"], doc["category"]),
        "user_id": doc["user_id"],
        "category": doc["category"],
        "rating": doc["after"],
        "peak": doc["peak"],
        "mu": doc["mu"],
        "sigma": doc["sigma"],
        "wins": doc["wins"],
        "losses": doc["losses"],
        "draws": doc["draws"],
        "matches": doc["matches"],
        "win_streak": doc["win_streak"],
        "best_win_streak": doc["best_win_streak"],
        "version": doc["seq"],
        "at": doc["at"],
    }


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
        "at": None,
    }


class RatingStore:
    def __init__(self, db: AsyncDatabase[Document], boards: Boards, bus: EventBus) -> None:
        self.chain = Chain(
            db["rating_history"],
            bus,
            cache=HEAD_CACHE,
            on_deliver=self._sync_board,
            repair=self._repair,
        )
        self.history = self.chain.links
        self.ratings = db["ratings"]
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
        await self.chain.ensure_indexes(
            IndexModel(
                [("match_id", ASCENDING), ("user_id", ASCENDING)],
                name="match_user_unique",
                unique=True,
            ),
            IndexModel(
                [("user_id", ASCENDING), ("category", ASCENDING), ("seq", DESCENDING)],
                name="user_category_seq",
            ),
            IndexModel([("category", ASCENDING), ("at", ASCENDING)], name="category_at"),
        )
        await ensure_indexes(
            self.matches,
            [IndexModel([("pending", ASCENDING)], name="pending", sparse=True)],
        )

    # --- reading ---------------------------------------------------------------------------

    async def get(self, user_id: str, category: str) -> Document:
        """The player's current rating: the newest history link, or the defaults."""
        key = rating_id(user_id, category)
        known = 0
        if self.chain.cached(key) is None:  # the read model says where the walk starts
            view = await self.ratings.find_one({"_id": key}, {"version": 1})
            known = int(view["version"]) if view else 0
        head = await self.chain.head(key, after=known)
        return head_state(head) if head else default_rating(user_id, category)

    async def facts(self, user_id: str) -> dict[str, RatingFacts]:
        out: dict[str, RatingFacts] = {}
        async for doc in self.ratings.find({"user_id": user_id}):
            out[doc["category"]] = RatingFacts(
                rating=doc["rating"],
                wins=doc.get("wins", 0),
                losses=doc.get("losses", 0),
                draws=doc.get("draws", 0),
                best_win_streak=doc.get("best_win_streak", 0),
            )
        return out

    async def history_page(
        self, user_id: str, category: str, limit: int, before_seq: int | None
    ) -> list[Document]:
        query: Document = {"user_id": user_id, "category": category}
        if before_seq is not None:
            query["seq"] = {"$lt": before_seq}
        cursor = self.history.find(query, {OUTBOX: 0}).sort("seq", DESCENDING)
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
        above = self.ratings.find({**query, "rating": {"$gte": me["rating"], "$lte": high}})
        below = self.ratings.find({**query, "rating": {"$gte": low, "$lt": me["rating"]}})
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
        current = {u: await self.get(u, category) for u in user_ids}
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
            **idempotency_stamp(),  # the insert that commits a keyed request
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
        match_id = match["_id"]
        for result in match["results"]:
            user_id = result["user_id"]
            if user_id not in match.get("pending", []):
                continue
            doc, appended = await self._append(match, result)
            await self._refresh(doc)
            if appended:  # otherwise its writer (or the sweep) publishes it
                await self.chain.deliver(doc)
            await self.matches.update_one({"_id": match_id}, {"$pullAll": {"pending": [user_id]}})
        await self.matches.update_one(
            {"_id": match_id, "pending": {"$size": 0}}, {"$unset": {"pending": ""}}
        )
        fresh = await self.matches.find_one({"_id": match_id})
        return fresh or match

    async def _append(self, match: Document, result: Document) -> tuple[Document, bool]:
        """Append this match to the player's chain once; returns its history document and
        whether this call appended it."""
        match_id, category, user_id = match["_id"], match["category"], result["user_id"]
        for _ in range(100):
            done = await self.history.find_one({"match_id": match_id, "user_id": user_id})
            if done is not None:
                return done, False
            head = await self.get(user_id, category)
            outcome = result["result"]
            rating = head["rating"] + result["delta"]
            streak = head["win_streak"] + 1 if outcome == "win" else 0
            doc: Document = {
                "user_id": user_id,
                "category": category,
                "seq": head["version"] + 1,
                "match_id": match_id,
                "before": head["rating"],
                "after": round(rating, 4),
                "delta": result["delta"],
                "result": outcome,
                "rank": result["rank"],
                "method": result["method"],
                "mu": head["mu"] + result["mu_delta"],
                "sigma": result["sigma"],
                "peak": max(head["peak"], rating),
                "wins": head["wins"] + (outcome == "win"),
                "losses": head["losses"] + (outcome == "loss"),
                "draws": head["draws"] + (outcome == "draw"),
                "matches": head["matches"] + 1,
                "win_streak": streak,
                "best_win_streak": max(head["best_win_streak"], streak),
                "at": match["at"],
            }
            outbox = [
                outbox_entry(
                    publish.STREAM,
                    publish.rating_changed(
                        user_id,
                        {
                            "category": category,
                            "match_id": match_id,
                            "method": doc["method"],
                            "result": outcome,
                            "rank": doc["rank"],
                            "before": doc["before"],
                            "after": doc["after"],
                            "delta": doc["delta"],
                            "peak": round(doc["peak"], 4),
                            "provisional": rules.is_provisional(doc["sigma"]),
                        },
                    ),
                )
            ]
            try:
                link = await self.chain.claim(
                    rating_id(user_id, category), doc["seq"], doc, outbox=outbox
                )
            except AlreadyRecorded:
                continue  # this match is in already: found above
            if link is not None:
                return link, True
            # another match took the slot: re-read the head
        raise RuntimeError(f"could not append match {match_id} for {user_id}")

    async def _refresh(self, doc: Document) -> None:
        """Bring the cross-player view up to the chain's head (never backwards)."""
        await self.chain.project(
            self.ratings, rating_id(doc["user_id"], doc["category"]), doc, head_state
        )

    async def _repair(self, key: str, link: Document) -> None:
        await self._refresh(link)

    async def _sync_board(self, key: str, link: Document) -> None:
        """Run by the chain before a link's event goes out: the board takes the head."""
        head = await self.get(link["user_id"], link["category"])
        await self.boards.sync_rating(
            link["user_id"], link["category"], head["version"], head["rating"], head["at"]
        )

    async def finish_pending(self, older_than: float) -> int:
        """Finish matches left pending at least ``older_than`` seconds; returns how many."""
        cutoff = utcnow() - timedelta(seconds=older_than)
        done = 0
        async for match in self.matches.find(
            {"pending": {"$exists": True}, "at": {"$lte": cutoff}}
        ):
            try:
                await self.finish(match)
                done += 1
            except PyMongoError as exc:
                log.warning("match %s not finished yet: %s", match["_id"], exc)
        return done

    async def sweep(self, older_than: float) -> int:
        """Finish matches left pending and deliver history links their writers left."""
        return await self.finish_pending(older_than) + await self.chain.sweep(older_than)

    async def participants(self, match: Mapping[str, Any]) -> list[str]:
        return [r["user_id"] for r in match["results"]]
