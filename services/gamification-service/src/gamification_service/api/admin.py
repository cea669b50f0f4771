"""``/admin``: maintenance through the API (the CLI runs the same use cases)."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from deepiri_kit import utcnow
from gamification_service.api.params import ADMIN
from gamification_service.schemas import (
    BackfillOut,
    FriendsRebuildIn,
    FriendsRebuildOut,
    RebuildOut,
    ReconcileIn,
    ReconcileOut,
    ReconcileReportOut,
)
from gamification_service.service import FriendBoards, Leaderboards, Wallets

WalletsDep = NamedDependency[Wallets]
LeaderboardsDep = NamedDependency[Leaderboards]
FriendsDep = NamedDependency[FriendBoards]


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    guards = ADMIN

    @post("/leaderboards/rebuild", status_code=200)
    async def rebuild(self, leaderboards: LeaderboardsDep) -> RebuildOut:
        """Rebuild every leaderboard (current periods and all time) from MongoDB."""
        return RebuildOut(boards=await leaderboards.rebuild(utcnow()))

    @post("/friends/rebuild", status_code=200)
    async def rebuild_friends(
        self, data: JSONBody[FriendsRebuildIn], friends: FriendsDep
    ) -> FriendsRebuildOut:
        """Take the given users' friends (everyone's without ``user_ids``) from user-service
        and keep exactly those for the friends' boards. 503 when user-service cannot be
        asked."""
        return FriendsRebuildOut(friends=await friends.rebuild(data.user_ids))

    @post("/reconcile", status_code=200)
    async def reconcile(self, data: JSONBody[ReconcileIn], wallets: WalletsDep) -> ReconcileOut:
        """Replay ledgers (the given users, or every wallet) and repair wallets that differ."""
        user_ids = data.user_ids if data.user_ids is not None else await wallets.users()
        reports = [await wallets.reconcile(u) for u in user_ids]
        return ReconcileOut(reports=[ReconcileReportOut.of(r) for r in reports])

    @post("/badges/backfill", status_code=200)
    async def backfill(self, wallets: WalletsDep) -> BackfillOut:
        """Evaluate every wallet against the whole badge catalog now."""
        return BackfillOut(wallets=await wallets.backfill_badges(force=True))
