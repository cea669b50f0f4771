"""Which leaderboards exist, which period a request names, and how a friends' board ranks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from gamification_service.domain import UnknownBoard
from gamification_service.domain.periods import Period, period_key, period_range
from gamification_service.domain.ratings import CATEGORIES

WALLET_METRICS: Final = ("xp", "coins")
RATING_METRICS: Final = tuple(f"rating-{c}" for c in CATEGORIES)
METRICS: Final = (*WALLET_METRICS, *RATING_METRICS)


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise UnknownBoard(f"no leaderboard {metric!r}; known: {', '.join(METRICS)}")
    return metric


def resolve_period_key(period: Period, key: str | None, now: datetime) -> str:
    """The period key a board request names: ``key``, or the period containing ``now``.
    ValueError when ``key`` is no key of ``period`` (or its period cannot be represented)."""
    resolved = key or period_key(period, now)
    period_range(period, resolved)
    return resolved


def rank(values: Mapping[str, float]) -> list[tuple[int, str, float]]:
    """``(rank, user_id, value)`` for every member, in board order: higher value first, equal
    values by user id ascending (the order of the Redis boards, which store scores negated);
    ranks are positions, 1-based, never shared."""
    ordered = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    return [(i, user_id, value) for i, (user_id, value) in enumerate(ordered, 1)]
