"""Ratings per user and category, their history, and matches.

A player's rating in a category is a chain of the kit's write path (:mod:`deepiri_kit.chain`)
keyed ``<user>:<category>``: every match they play appends one ``rating_history`` link (also
unique per match and user) holding the change *and* the resulting rating, peak, μ, sigma
and W/L/D counters, plus its ``rating_changed`` event (outbox). The newest link is the
rating. Appending is the commit point: a retry or a concurrent duplicate of the same match
for the same player hits a unique index and applies nothing twice; two different matches
racing for the same player both land, one after the other (the loser re-reads the head).

A match is recorded once (``matches._id`` = the caller's ``match_id``) with everyone's
change computed from their ratings at that moment and the participants still ``pending``
(the use case in ``service/ratings.py``); a crash anywhere leaves pending participants that
a retry of the same request or the maintenance worker finishes. ``ratings`` holds each player's latest
rating for queries across players (opponents, rebuilds): the chain's read model, projected
after every append.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from deepiri_kit import Worker, utcnow
from deepiri_kit.chain import OUTBOX, AlreadyRecorded, Chain
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import EventBus
from gamification_service.domain import ratings as rules
from gamification_service.domain.facts import RatingFacts
from gamification_service.store.boards import Boards

Document = dict[str, Any]
HEAD_CACHE = 100_000


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

    async def candidates(
        self, user_id: str, category: str, rating: float, limit: int
    ) -> list[Document]:
        """Up to ``limit`` rated players on each side of ``rating`` within the opponent
        window (closest first on each side), the user left out."""
        low, high = rules.opponent_range(rating)
        query = {"category": category, "user_id": {"$ne": user_id}}
        above = self.ratings.find({**query, "rating": {"$gte": rating, "$lte": high}})
        below = self.ratings.find({**query, "rating": {"$gte": low, "$lt": rating}})
        return [
            *await above.sort("rating", ASCENDING).limit(limit).to_list(),
            *await below.sort("rating", DESCENDING).limit(limit).to_list(),
        ]

    async def rated(self, category: str) -> AsyncIterator[Document]:
        """Every player's current rating in ``category``."""
        async for doc in self.ratings.find({"category": category}):
            yield doc

    async def changes_between(
        self, category: str, start: datetime, end: datetime
    ) -> AsyncIterator[Document]:
        """Rating changes in ``category`` in [start, end): user, rating after, time."""
        query = {"category": category, "at": {"$gte": start, "$lt": end}}
        async for doc in self.history.find(query, {"user_id": 1, "after": 1, "at": 1}):
            yield doc

    # --- matches ---------------------------------------------------------------------------

    async def match(self, match_id: str) -> Document | None:
        return await self.matches.find_one({"_id": match_id})

    async def insert_match(self, match: Document) -> bool:
        """Record a match once: False if its id is taken."""
        try:
            await self.matches.insert_one(match)
        except DuplicateKeyError:
            return False
        return True

    async def applied(self, match_id: str, user_id: str) -> Document | None:
        """The player's history link for this match, if it is in."""
        return await self.history.find_one({"match_id": match_id, "user_id": user_id})

    async def append(self, link: Document, outbox: list[Document]) -> tuple[Document | None, bool]:
        """Append a history link (with its events) to the player's chain: ``(link, True)``
        when this call appended it, ``(existing, False)`` when the match is in already,
        ``(None, False)`` when another match took the sequence number (re-read the head)."""
        key = rating_id(link["user_id"], link["category"])
        try:
            claimed = await self.chain.claim(key, link["seq"], link, outbox=outbox)
        except AlreadyRecorded:
            return await self.applied(link["match_id"], link["user_id"]), False
        return claimed, claimed is not None

    async def settled(self, match_id: str, user_id: str) -> None:
        """The player's part of the match is done (its link appended and projected)."""
        await self.matches.update_one({"_id": match_id}, {"$pullAll": {"pending": [user_id]}})

    async def close(self, match_id: str) -> Document | None:
        """Drop the ``pending`` marker once nobody is left; the match as it is now."""
        await self.matches.update_one(
            {"_id": match_id, "pending": {"$size": 0}}, {"$unset": {"pending": ""}}
        )
        return await self.matches.find_one({"_id": match_id})

    async def unfinished(self, older_than: float) -> list[Document]:
        """Matches with participants still pending, recorded ``older_than`` s ago or more."""
        cutoff = utcnow() - timedelta(seconds=older_than)
        return await self.matches.find(
            {"pending": {"$exists": True}, "at": {"$lte": cutoff}}
        ).to_list()

    # --- erasure -------------------------------------------------------------------------

    async def erase(self, user_id: str, stand_in: str) -> int:
        """Delete the user's ratings and rating history (with delivery markers) and put
        ``stand_in`` in their place in the matches they played: the other players' results
        came from those matches and stay. How many history links went."""
        erased = await self.chain.erase(*(rating_id(user_id, c) for c in rules.CATEGORIES))
        await self.ratings.delete_many({"user_id": user_id})
        async for match in self.matches.find({"results.user_id": user_id}):
            await self.matches.replace_one(
                {"_id": match["_id"]}, rules.without_player(match, user_id, stand_in)
            )
        return erased

    # --- projections -------------------------------------------------------------------------

    async def refresh(self, link: Document) -> None:
        """Bring the cross-player view up to the chain's head (never backwards)."""
        await self.chain.project(
            self.ratings, rating_id(link["user_id"], link["category"]), link, head_state
        )

    async def deliver(self, link: Document) -> bool:
        return await self.chain.deliver(link)

    async def sweep(self, min_age: float = 0.0) -> int:
        """Deliver history links their writers left (what the chain's sweeper does)."""
        return await self.chain.sweep(min_age)

    async def compact(self) -> int:
        return await self.chain.compact()

    def workers(self, *, interval: float, min_age: float) -> list[Worker]:
        """The chain's sweeper (events a crash or a Redis outage left) and compactor."""
        return list(self.chain.workers(interval=interval, min_age=min_age))

    async def _repair(self, key: str, link: Document) -> None:
        await self.refresh(link)

    async def _sync_board(self, key: str, link: Document) -> None:
        """Run by the chain before a link's event goes out: the board takes the head."""
        head = await self.get(link["user_id"], link["category"])
        await self.boards.sync_rating(
            link["user_id"], link["category"], head["version"], head["rating"], head["at"]
        )
