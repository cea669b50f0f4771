"""The leaderboards: read from Redis, with display names where the profiles have them.
Redis is a cache: ``rebuild.py`` rebuilds every board from MongoDB."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gamification_service.domain.boards import check_metric
from gamification_service.domain.periods import Period
from gamification_service.service.rebuild import Rebuild
from gamification_service.store.boards import Boards, Standing, board_key
from gamification_service.store.profiles import Profiles


@dataclass
class Board:
    metric: str
    period: Period
    period_key: str
    total: int
    entries: list[Standing]
    names: dict[str, str | None]
    me: Standing | None = None


async def safe_names(profiles: Profiles, user_ids: list[str]) -> dict[str, str | None]:
    try:
        return await profiles.names(user_ids)
    except Exception:  # names are decoration; a board without them still works
        return {}


class Leaderboards:
    """The boards in Redis: read them, and rebuild them from MongoDB (Redis is a cache)."""

    def __init__(self, boards: Boards, profiles: Profiles, rebuilder: Rebuild) -> None:
        self.boards = boards
        self.profiles = profiles
        self.rebuilder = rebuilder

    async def top(self, metric: str, period: Period, key: str, limit: int) -> Board:
        """Top ``limit`` of the board of ``metric`` in period ``key``: higher first, equal
        values by user id ascending."""
        items, total = await self.boards.top(board_key(check_metric(metric), period, key), limit)
        names = await safe_names(self.profiles, [s.user_id for s in items])
        return Board(metric, period, key, total, items, names)

    async def around(
        self, metric: str, period: Period, key: str, user_id: str, window: int
    ) -> Board:
        """The user's standing and the ``window`` members above and below."""
        me, items, total = await self.boards.around(
            board_key(check_metric(metric), period, key), user_id, window
        )
        names = await safe_names(self.profiles, [s.user_id for s in items])
        return Board(metric, period, key, total, items, names, me)

    async def rebuild(self, now: datetime) -> dict[str, int]:
        """Rebuild every board for the periods containing ``now`` (see :class:`Rebuild`);
        returns members per board."""
        return await self.rebuilder.run(now)
