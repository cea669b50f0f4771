"""Friends' leaderboards: every board (metric and period) narrowed to the caller and their
friends, ranked among themselves.

A friends' board is not stored: it is read from the board it narrows (one ZMSCORE for the
caller and their friends) and ranked here, so it always agrees with the public board and
costs one set read and one sorted-set read, whatever the number of players. Who is whose
friend is kept in Redis from user-service's ``events.social`` (``store/friends.py``) and
rebuilt from user-service on demand (:meth:`FriendBoards.rebuild`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from deepiri_kit import ServiceUnavailable, metrics
from gamification_service.domain.boards import check_metric, rank
from gamification_service.domain.periods import Period
from gamification_service.service.erasure import Erasure
from gamification_service.service.leaderboards import Board, safe_names
from gamification_service.store.boards import Boards, Standing, board_key
from gamification_service.store.friends import Friendships
from gamification_service.store.ledger import Ledger
from gamification_service.store.profiles import Profiles
from gamification_service.store.social_graph import SocialGraph

log = logging.getLogger("gamification.friends")
FRIENDSHIP_CHANGES = metrics.counter(
    "deepiri_gamification_friendship_changes_total",
    "Friendship changes taken from events.social, by outcome (applied, stale, erased).",
    ("outcome",),
)


class FriendBoards:
    def __init__(
        self,
        boards: Boards,
        friendships: Friendships,
        profiles: Profiles,
        ledger: Ledger,
        erasure: Erasure,
        graph: SocialGraph | None,
    ) -> None:
        self.boards = boards
        self.friendships = friendships
        self.profiles = profiles
        self.ledger = ledger
        self.erasure = erasure
        self.graph = graph

    async def board(self, metric: str, period: Period, key: str, user_id: str) -> Board:
        """The board of ``metric`` in period ``key`` among ``user_id`` and their friends: those
        of them on it, ranked (higher first, equal values by user id); ``me`` is the caller's
        standing (None when not on the board)."""
        members = sorted({user_id, *await self.friendships.of(user_id)})
        values = await self.boards.values(board_key(check_metric(metric), period, key), members)
        entries = [Standing(r, u, v) for r, u, v in rank(values)]
        me = next((s for s in entries if s.user_id == user_id), None)
        names = await safe_names(self.profiles, [s.user_id for s in entries])
        return Board(metric, period, key, len(entries), entries, names, me)

    async def befriend(self, one: str, other: str, change: int) -> None:
        await self._set(one, other, friends=True, change=change)

    async def part(self, one: str, other: str, change: int) -> None:
        """Unfriended or blocked: each leaves the other's friends' boards."""
        await self._set(one, other, friends=False, change=change)

    async def _set(self, one: str, other: str, *, friends: bool, change: int) -> None:
        if friends and await self.erasure.buried_among((one, other)):
            FRIENDSHIP_CHANGES.labels("erased").inc()
            return  # a late event for a deleted account never brings it back
        applied = await self.friendships.apply(one, other, friends=friends, change=change)
        FRIENDSHIP_CHANGES.labels("applied" if applied else "stale").inc()
        if friends:
            for gone in await self.erasure.buried_among((one, other)):  # deleted meanwhile
                await self.friendships.erase(gone)

    async def everyone(self) -> list[str]:
        """Everyone who can look at a board: anyone with a ledger or a known profile."""
        return sorted({*await self.ledger.users(), *await self.profiles.all_names()})

    async def rebuild(self, user_ids: Iterable[str] | None = None) -> dict[str, int]:
        """Take each user's friends (everyone's when ``user_ids`` is None) from user-service,
        the truth, and make them exactly the friends kept here; returns friends per user.
        Accounts erased here are left out. ServiceUnavailable when user-service cannot be
        asked."""
        if self.graph is None:
            raise ServiceUnavailable(
                "friendships cannot be rebuilt: no user-service client is configured"
            )
        wanted = sorted(set(await self.everyone() if user_ids is None else user_ids))
        buried = await self.erasure.buried_among(wanted)
        counts: dict[str, int] = {}
        for user_id in wanted:
            if user_id in buried:
                continue
            friends = await self.graph.friends_of(user_id)
            gone = await self.erasure.buried_among(friends)
            alive = {f: v for f, v in friends.items() if f not in gone}
            counts[user_id] = await self.friendships.replace(user_id, alive)
        log.info("friendships rebuilt", extra={"users": len(counts)})
        return counts
