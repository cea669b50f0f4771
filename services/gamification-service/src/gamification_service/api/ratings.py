"""``/ratings``: matches (recorded by services) and the caller's ratings per category."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from deepiri_kit import DEFAULT_LIMIT, CursorQuery, Forbidden, Page, encode_cursor
from gamification_service.api.params import RATINGS_WRITE, READ, Caller, Limit, seq_cursor
from gamification_service.schemas import HistoryOut, MatchIn, MatchOut, OpponentsOut, RatingOut
from gamification_service.service import Ratings

RatingsDep = NamedDependency[Ratings]


class RatingController(Controller):
    path = "/ratings"
    tags = ["ratings"]

    @post("/matches", guards=RATINGS_WRITE)
    async def record_match(
        self, data: JSONBody[MatchIn], request: Caller, ratings: RatingsDep
    ) -> Response[MatchOut]:
        """Record a match result (services only, e.g. challenge-service). Idempotent by
        ``match_id``: the same result again answers 200 with the stored changes; a different
        result under a used id is a 409. Duels use Elo; anything else OpenSkill."""
        if not request.user.is_service:
            raise Forbidden("only services (client-credentials tokens) may record matches")
        teams = [(t.members, t.rank) for t in data.teams]
        match, created = await ratings.record_match(data.match_id, data.category, teams)
        return Response(
            MatchOut.of(match, replayed=not created), status_code=201 if created else 200
        )

    @get("/{category:str}/me", guards=READ)
    async def mine(
        self, category: FromPath[str], request: Caller, ratings: RatingsDep
    ) -> RatingOut:
        """The caller's rating in a category (1500 and provisional before any match)."""
        standing = await ratings.standing(request.user.subject, category)
        return RatingOut.of(request.user.subject, category, standing)

    @get("/{category:str}/history", guards=READ)
    async def history(
        self,
        category: FromPath[str],
        request: Caller,
        ratings: RatingsDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> Page[HistoryOut]:
        """The caller's rating changes in a category, newest first."""
        before = seq_cursor(cursor, "history")
        docs, more = await ratings.history(request.user.subject, category, limit, before)
        return Page(
            items=[HistoryOut.of(d) for d in docs],
            next_cursor=encode_cursor("history", docs[-1]["seq"], docs[-1]["_id"])
            if more and docs
            else None,
        )

    @get("/{category:str}/opponents", guards=READ)
    async def opponents(
        self,
        category: FromPath[str],
        request: Caller,
        ratings: RatingsDep,
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
    ) -> OpponentsOut:
        """Rated players within ±200 of the caller, closest first."""
        found = await ratings.opponents(request.user.subject, category, limit)
        return OpponentsOut.of(category, found)
