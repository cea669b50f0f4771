"""``events.gamification``: what gamification-service publishes. Envelope ``user_id`` = the
user concerned, repeated in the data. Each is decided in the same MongoDB write as the
change it announces (outbox), so none is lost.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from deepiri_kit.contracts.base import Event, Stream

__all__ = [
    "BADGE_AWARDED",
    "CURRENCY_CREDITED",
    "CURRENCY_SPENT",
    "LEVEL_UP",
    "RATING_CHANGED",
    "STREAM",
    "BadgeAwarded",
    "CurrencyCredited",
    "CurrencySpent",
    "LevelUp",
    "RatingChanged",
    "WalletChange",
]

CURRENCY_CREDITED = "gamification.currency_credited"
CURRENCY_SPENT = "gamification.currency_spent"
LEVEL_UP = "gamification.level_up"
BADGE_AWARDED = "gamification.badge_awarded"
RATING_CHANGED = "gamification.rating_changed"

UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Level = Annotated[int, msgspec.Meta(ge=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class WalletChange(Event, frozen=True, kw_only=True):
    """A ledger entry applied: what moved (``amounts``), the balances and level after it."""

    user_id: UserId
    entry_key: str
    kind: str
    reason: str = ""
    amounts: dict[str, int]
    balances: dict[str, int]
    level: Level
    ref: dict[str, str] = {}


class CurrencyCredited(WalletChange, frozen=True, kw_only=True):
    """``amounts``: what was credited."""

    TYPE = CURRENCY_CREDITED


class CurrencySpent(WalletChange, frozen=True, kw_only=True):
    """``amounts``: what was debited."""

    TYPE = CURRENCY_SPENT


class LevelUp(Event, frozen=True, kw_only=True):
    TYPE = LEVEL_UP

    user_id: UserId
    level: Level
    previous_level: Level
    xp: Count
    xp_to_next_level: Count


class BadgeAwarded(Event, frozen=True, kw_only=True):
    """``reward``: what the badge paid, by currency."""

    TYPE = BADGE_AWARDED

    user_id: UserId
    badge_id: str
    name: str
    description: str
    category: str
    rarity: str
    tier: Annotated[int, msgspec.Meta(ge=1)] = 1
    family: str | None = None
    secret: bool = False
    reward: dict[str, int] = {}


class RatingChanged(Event, frozen=True, kw_only=True):
    """One player's rating after one match (``before`` + ``delta`` = ``after``)."""

    TYPE = RATING_CHANGED

    user_id: UserId
    category: str
    match_id: str
    method: Literal["elo", "openskill"]
    result: Literal["win", "loss", "draw"]
    rank: Annotated[int, msgspec.Meta(ge=1)]
    before: float
    after: float
    delta: float
    peak: float
    provisional: bool


STREAM = Stream(
    "events.gamification", CurrencyCredited, CurrencySpent, LevelUp, BadgeAwarded, RatingChanged
)
