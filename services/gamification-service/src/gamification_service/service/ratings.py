"""Ratings per user and category: a match is recorded once (its id and a fingerprint of its
result), then appended to each player's rating chain (``store/ratings.py``), and the badges
it unlocks are awarded."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from pymongo.errors import PyMongoError

from deepiri_kit import idempotency_stamp, utcnow
from gamification_service.domain import DeletedPlayers, MatchConflict
from gamification_service.domain import ratings as rating_rules
from gamification_service.events import publish
from gamification_service.service.announce import rating_changed
from gamification_service.service.leaderboards import safe_names
from gamification_service.service.wallets import Wallets
from gamification_service.store.boards import Boards, board_key
from gamification_service.store.profiles import Profiles
from gamification_service.store.ratings import RatingStore

log = logging.getLogger("gamification.service")
Document = dict[str, Any]
MATCH_ATTEMPTS = 100
# Not naming them: the ids would be copied into logs and stored answers.
DELETED_PLAYERS = "the match names players whose accounts were deleted; record it without them"

Teams = Sequence[tuple[Sequence[str], int]]


@dataclass
class RatingStanding:
    """A player's rating in a category and their rank on its all-time board."""

    rating: Document
    rank: int | None


@dataclass
class Opponents:
    rating: float
    candidates: list[Document]
    names: dict[str, str | None]


class Ratings:
    """Ratings per user and category: matches recorded once, each player's chain appended."""

    def __init__(
        self, store: RatingStore, wallets: Wallets, boards: Boards, profiles: Profiles
    ) -> None:
        self.store = store
        self.wallets = wallets
        self.boards = boards
        self.profiles = profiles

    async def record_match(
        self, match_id: str, category: str, teams: Teams
    ) -> tuple[Document, bool]:
        """Record a result once per ``match_id`` and award the badges it unlocks; returns
        the match and whether this call recorded it. The same result again replays it; a
        different one under a used id is a MatchConflict."""
        category = rating_rules.check_category(category)
        rating_rules.validate(
            [rating_rules.Team(tuple(rating_rules.Player(u) for u in m), r) for m, r in teams]
        )
        players = [u for members, _ in teams for u in members]
        erasure = self.wallets.erasure
        if erasure is not None and await erasure.buried_among(players):
            raise DeletedPlayers(DELETED_PLAYERS)
        # Checked again once everything is written (the badges too, or a failure half-way):
        # a player deleted meanwhile has what the match wrote for them erased again (an
        # AccountDeleted from their badges becomes this DeletedPlayers).
        async with self._undone_if_erased(players):
            match, created = await self._record(match_id, category, teams)
            for result in match["results"]:
                await self.wallets.award_badges(result["user_id"])
        return match, created

    def _undone_if_erased(self, players: Iterable[str]) -> AbstractAsyncContextManager[None]:
        erasure = self.wallets.erasure
        if erasure is None:
            return contextlib.nullcontext()
        return erasure.undone_if_erased(players, lambda: DeletedPlayers(DELETED_PLAYERS))

    async def plan(self, match_id: str, category: str, teams: Teams) -> Document:
        """The match as it is recorded now: everyone's change computed from their current
        rating, everyone still pending (``finish`` applies it)."""
        user_ids = [u for members, _ in teams for u in members]
        current = {u: await self.store.get(u, category) for u in user_ids}
        changes = rating_rules.rate(
            [
                rating_rules.Team(
                    members=tuple(
                        rating_rules.Player(
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
        )
        return {
            "_id": match_id,
            "category": category,
            "fingerprint": rating_rules.match_fingerprint(category, teams),
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
            "at": utcnow(),
        }

    async def _record(self, match_id: str, category: str, teams: Teams) -> tuple[Document, bool]:
        existing = await self.store.match(match_id)
        if existing is not None:
            return await self._replay(existing, rating_rules.match_fingerprint(category, teams))
        match = await self.plan(match_id, category, teams)
        match.update(idempotency_stamp())  # the insert that commits a keyed request
        if not await self.store.insert_match(match):
            raced = await self.store.match(match_id)
            assert raced is not None
            return await self._replay(raced, match["fingerprint"])
        return await self._finish(match), True

    async def _replay(self, existing: Document, fingerprint: str) -> tuple[Document, bool]:
        if existing["fingerprint"] != fingerprint:
            raise MatchConflict(f"match {existing['_id']} was already recorded with another result")
        if existing.get("pending"):
            return await self._finish(existing), False
        return existing, False

    async def finish(self, match: Document) -> Document:
        """Apply the match to every participant still pending (idempotent). A player erased
        while it wrote has what it wrote for them erased again (DeletedPlayers): the
        finisher may have read the match before the erasure took them out of it."""
        async with self._undone_if_erased(r["user_id"] for r in match["results"]):
            return await self._finish(match)

    async def _finish(self, match: Document) -> Document:
        for result in match["results"]:
            user_id = result["user_id"]
            if user_id not in match.get("pending", []):
                continue
            link, appended = await self._apply(match, result)
            await self.store.refresh(link)
            if appended:  # otherwise its writer (or the sweep) publishes it
                await self.store.deliver(link)
            await self.store.settled(match["_id"], user_id)
        return await self.store.close(match["_id"]) or match

    async def _apply(self, match: Document, result: Document) -> tuple[Document, bool]:
        """Append this match to the player's chain once; returns its history link and
        whether this call appended it."""
        match_id, category, user_id = match["_id"], match["category"], result["user_id"]
        for _ in range(MATCH_ATTEMPTS):
            done = await self.store.applied(match_id, user_id)
            if done is not None:
                return done, False
            head = await self.store.get(user_id, category)
            link = rating_rules.after_match(head, match, result)
            claimed, appended = await self.store.append(
                link, publish.outbox(user_id, [rating_changed(link)])
            )
            if claimed is not None:
                return claimed, appended
            # another match took the slot: re-read the head
        raise RuntimeError(f"could not append match {match_id} for {user_id}")

    async def finish_pending(self, older_than: float) -> int:
        """Finish matches left pending at least ``older_than`` seconds; returns how many."""
        done = 0
        for match in await self.store.unfinished(older_than):
            try:
                await self.finish(match)
                done += 1
            except DeletedPlayers:
                done += 1  # finished for the others; the erased player's part erased again
            except PyMongoError as exc:
                log.warning("match %s not finished yet: %s", match["_id"], exc)
        return done

    async def sweep(self, older_than: float) -> int:
        """Finish matches left pending and deliver history links their writers left."""
        return await self.finish_pending(older_than) + await self.store.sweep(older_than)

    async def standing(self, user_id: str, category: str) -> RatingStanding:
        """The player's rating (1500 and provisional before any match) and rank."""
        doc = await self.store.get(user_id, rating_rules.check_category(category))
        rank = None
        if doc.get("matches", 0):
            try:
                me, _, _ = await self.boards.around(
                    board_key(f"rating-{category}", "all", "all"), user_id, 0
                )
                rank = me.rank if me else None
            except Exception:  # the rank is a nicety; Redis may be down
                rank = None
        return RatingStanding(doc, rank)

    async def history(
        self, user_id: str, category: str, limit: int, before_seq: int | None
    ) -> tuple[list[Document], bool]:
        """The player's rating changes, newest first, and whether more follow."""
        category = rating_rules.check_category(category)
        docs = await self.store.history_page(user_id, category, limit + 1, before_seq)
        return docs[:limit], len(docs) > limit

    async def opponents(self, user_id: str, category: str, limit: int) -> Opponents:
        """Rated players within the opponent window of the caller, closest first."""
        me = await self.store.get(user_id, rating_rules.check_category(category))
        candidates = await self.store.candidates(user_id, category, me["rating"], limit)
        by_id = {d["user_id"]: d for d in candidates}
        chosen = rating_rules.closest(
            me["rating"], [(d["user_id"], d["rating"]) for d in candidates], limit
        )
        docs = [by_id[u] for u, _ in chosen]
        names = await safe_names(self.profiles, [d["user_id"] for d in docs])
        return Opponents(me["rating"], docs, names)
