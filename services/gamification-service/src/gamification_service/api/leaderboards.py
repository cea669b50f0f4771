"""``/leaderboards``: top N, the caller's neighbourhood and the caller's friends' board, per
metric and period."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from gamification_service.api.params import READ, Caller, PeriodKey, period_key_of
from gamification_service.domain.periods import PERIODS, Period
from gamification_service.schemas import AroundOut, BoardOut, FriendsBoardOut
from gamification_service.service import FriendBoards, Leaderboards

LeaderboardsDep = NamedDependency[Leaderboards]
FriendsDep = NamedDependency[FriendBoards]
PeriodQuery = Annotated[Period, QueryParameter(description=f"one of {', '.join(PERIODS)}")]


class LeaderboardController(Controller):
    path = "/leaderboards"
    tags = ["leaderboards"]

    @get("/{metric:str}", guards=READ)
    async def top(
        self,
        metric: FromPath[str],
        leaderboards: LeaderboardsDep,
        period: PeriodQuery = "all",
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
        period_key: PeriodKey = None,
    ) -> BoardOut:
        """Top N. Metrics: ``xp``, ``coins`` (earned in the period) and ``rating-<category>``.
        Higher first; equal values ordered by user id ascending; ranks are positions."""
        key = period_key_of(period, period_key)
        board = await leaderboards.top(metric, period, key, limit)
        return BoardOut.of(board)

    @get("/{metric:str}/me", guards=READ)
    async def around_me(
        self,
        metric: FromPath[str],
        request: Caller,
        leaderboards: LeaderboardsDep,
        period: PeriodQuery = "all",
        window: Annotated[int, QueryParameter(ge=0, le=50)] = 5,
        period_key: PeriodKey = None,
    ) -> AroundOut:
        """The caller's rank and the ``window`` members above and below (``me`` is null when
        the caller is not on this board)."""
        key = period_key_of(period, period_key)
        board = await leaderboards.around(metric, period, key, request.user.subject, window)
        return AroundOut.of(board)

    @get("/{metric:str}/friends", guards=READ)
    async def friends(
        self,
        metric: FromPath[str],
        request: Caller,
        friends: FriendsDep,
        period: PeriodQuery = "all",
        period_key: PeriodKey = None,
    ) -> FriendsBoardOut:
        """The caller and their friends on this board, ranked among themselves (higher first;
        equal values by user id ascending). Only those with a value in the period are listed;
        ``me`` is null when the caller has none. Nobody blocked either way is a friend."""
        key = period_key_of(period, period_key)
        board = await friends.board(metric, period, key, request.user.subject)
        return FriendsBoardOut.of(board)
