"""Request and response bodies: strict models (unknown fields are a 400) and their shaping
from domain objects and stored documents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

import msgspec

from deepiri_kit import Model, Out, ShortText
from gamification_service.domain import badges as badge_rules
from gamification_service.domain import currencies as money
from gamification_service.domain import energy as energy_rules
from gamification_service.domain import levels
from gamification_service.domain import ratings as rating_rules
from gamification_service.domain.wallet import WalletState, energy_now
from gamification_service.service import Board, Opponents, RatingStanding, Report
from gamification_service.store.boards import Standing

UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Amount = Annotated[int, msgspec.Meta(ge=1, le=money.MAX_AMOUNT)]

# --- wallet -----------------------------------------------------------------------------------


class EnergyOut(Out):
    value: int
    max: int
    next_point_at: datetime | None
    full_at: datetime | None


class LevelOut(Out):
    level: int
    xp: int
    xp_into_level: int
    xp_for_next_level: int
    xp_to_next_level: int
    progress: float

    @classmethod
    def of(cls, xp: int) -> LevelOut:
        p = levels.progress(xp)
        return cls(
            level=p.level,
            xp=p.xp,
            xp_into_level=p.xp_into_level,
            xp_for_next_level=p.xp_for_next_level,
            xp_to_next_level=p.xp_to_next_level,
            progress=p.progress,
        )


class WalletOut(Out):
    user_id: str
    balances: dict[str, int]
    energy: EnergyOut
    level: LevelOut
    seq: int
    as_of: datetime

    @classmethod
    def of(cls, user_id: str, state: WalletState, now: datetime) -> WalletOut:
        value, anchor = energy_now(state, now)
        full = value >= energy_rules.ENERGY_MAX
        return cls(
            user_id=user_id,
            balances={**state.balances, "energy": value},
            energy=EnergyOut(
                value=value,
                max=energy_rules.ENERGY_MAX,
                next_point_at=energy_rules.next_point_at(value, anchor),
                full_at=None if full else energy_rules.full_at(value, anchor),
            ),
            level=LevelOut.of(state.balances.get("xp", 0)),
            seq=state.seq,
            as_of=now,
        )


class LedgerEntryOut(Out):
    id: str
    seq: int
    key: str
    kind: str
    amounts: dict[str, int]
    reason: str
    ref: dict[str, str]
    status: str
    at: datetime

    @classmethod
    def of(cls, doc: dict[str, Any], status: str) -> LedgerEntryOut:
        return cls(
            id=str(doc["_id"]),
            seq=doc["seq"],
            key=doc["key"],
            kind=doc["kind"],
            amounts=doc["amounts"],
            reason=doc.get("reason", ""),
            ref=doc.get("ref") or {},
            status=status,
            at=doc["at"],
        )


class SpendIn(Model):
    currency: money.Spendable
    amount: Amount
    reason: ShortText


class ConvertIn(Model):
    from_currency: money.Spendable = msgspec.field(name="from")
    to_currency: money.Spendable = msgspec.field(name="to")
    amount: Amount


class TransactionOut(Out):
    entry: LedgerEntryOut
    balances: dict[str, int]
    replayed: bool


class RateOut(Out):
    source: str = msgspec.field(name="from")
    target: str = msgspec.field(name="to")
    give: int
    get: int

    @classmethod
    def of(cls, rate: money.Rate) -> RateOut:
        return cls(source=rate.source, target=rate.target, give=rate.give, get=rate.get)


# --- badges -----------------------------------------------------------------------------------


class BadgeOut(Out):
    id: str
    name: str
    description: str
    category: str
    rarity: str
    tier: int
    family: str | None
    secret: bool
    reward: dict[str, int]

    @classmethod
    def of(cls, b: badge_rules.BadgeDef) -> BadgeOut:
        return cls(
            id=b.id,
            name=b.name,
            description=b.description,
            category=b.category,
            rarity=b.rarity,
            tier=b.tier,
            family=b.family,
            secret=b.secret,
            reward=b.payout,
        )


class CatalogOut(Out):
    badges: list[BadgeOut]
    hidden_secret_badges: int


class EarnedOut(Out):
    badge: BadgeOut
    earned_at: datetime


class ProgressOut(Out):
    badge: BadgeOut
    current: float
    target: float
    progress: float


class MyBadgesOut(Out):
    earned: list[EarnedOut]
    progress: list[ProgressOut]


# --- ratings ----------------------------------------------------------------------------------


class TeamIn(Model):
    members: Annotated[list[UserId], msgspec.Meta(min_length=1, max_length=16)]
    rank: Annotated[int, msgspec.Meta(ge=1, le=64)]


class MatchIn(Model):
    match_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    category: Annotated[str, msgspec.Meta(max_length=40)]
    teams: Annotated[list[TeamIn], msgspec.Meta(min_length=2, max_length=64)]


class ResultOut(Out):
    user_id: str
    rank: int
    result: str
    method: str
    delta: float


class MatchOut(Out):
    match_id: str
    category: str
    results: list[ResultOut]
    replayed: bool

    @classmethod
    def of(cls, match: dict[str, Any], *, replayed: bool) -> MatchOut:
        return cls(
            match_id=match["_id"],
            category=match["category"],
            results=[
                ResultOut(
                    user_id=r["user_id"],
                    rank=r["rank"],
                    result=r["result"],
                    method=r["method"],
                    delta=r["delta"],
                )
                for r in match["results"]
            ],
            replayed=replayed,
        )


class RatingOut(Out):
    user_id: str
    category: str
    rating: float
    peak: float
    wins: int
    losses: int
    draws: int
    matches: int
    win_streak: int
    best_win_streak: int
    mu: float
    sigma: float
    provisional: bool
    rank: int | None

    @classmethod
    def of(cls, user_id: str, category: str, standing: RatingStanding) -> RatingOut:
        doc = standing.rating
        return cls(
            user_id=user_id,
            category=category,
            rating=round(doc["rating"], 2),
            peak=round(max(doc.get("peak", rating_rules.START), doc["rating"]), 2),
            wins=doc.get("wins", 0),
            losses=doc.get("losses", 0),
            draws=doc.get("draws", 0),
            matches=doc.get("matches", 0),
            win_streak=doc.get("win_streak", 0),
            best_win_streak=doc.get("best_win_streak", 0),
            mu=round(doc["mu"], 4),
            sigma=round(doc["sigma"], 4),
            provisional=rating_rules.is_provisional(doc["sigma"]),
            rank=standing.rank,
        )


class HistoryOut(Out):
    id: str
    match_id: str
    before: float
    after: float
    delta: float
    result: str
    rank: int
    method: str
    at: datetime

    @classmethod
    def of(cls, d: dict[str, Any]) -> HistoryOut:
        return cls(
            id=str(d["_id"]),
            match_id=d["match_id"],
            before=d["before"],
            after=d["after"],
            delta=d["delta"],
            result=d["result"],
            rank=d["rank"],
            method=d["method"],
            at=d["at"],
        )


class OpponentOut(Out):
    user_id: str
    display_name: str | None
    rating: float
    provisional: bool
    expected_score: float


class OpponentsOut(Out):
    category: str
    rating: float
    low: float
    high: float
    opponents: list[OpponentOut]

    @classmethod
    def of(cls, category: str, found: Opponents) -> OpponentsOut:
        rating = found.rating
        low, high = rating_rules.opponent_range(rating)
        return cls(
            category=category,
            rating=round(rating, 2),
            low=round(low, 2),
            high=round(high, 2),
            opponents=[
                OpponentOut(
                    user_id=d["user_id"],
                    display_name=found.names.get(d["user_id"]),
                    rating=round(d["rating"], 2),
                    provisional=rating_rules.is_provisional(d["sigma"]),
                    expected_score=round(rating_rules.elo_expected(rating, d["rating"]), 4),
                )
                for d in found.candidates
            ],
        )


# --- leaderboards -----------------------------------------------------------------------------


class StandingOut(Out):
    rank: int
    user_id: str
    display_name: str | None
    value: float

    @classmethod
    def of(cls, s: Standing, names: dict[str, str | None]) -> StandingOut:
        return cls(rank=s.rank, user_id=s.user_id, display_name=names.get(s.user_id), value=s.value)


class BoardOut(Out):
    metric: str
    period: str
    period_key: str
    total: int
    entries: list[StandingOut]

    @classmethod
    def of(cls, board: Board) -> BoardOut:
        return cls(
            metric=board.metric,
            period=board.period,
            period_key=board.period_key,
            total=board.total,
            entries=[StandingOut.of(s, board.names) for s in board.entries],
        )


class BoardViewOut(Out):
    """A board seen from the caller: their standing and the entries shown."""

    metric: str
    period: str
    period_key: str
    total: int  # who is on the board (the friends' board: the caller and their friends)
    me: StandingOut | None
    entries: list[StandingOut]

    @classmethod
    def of(cls, board: Board) -> Self:
        return cls(
            metric=board.metric,
            period=board.period,
            period_key=board.period_key,
            total=board.total,
            me=StandingOut.of(board.me, board.names) if board.me else None,
            entries=[StandingOut.of(s, board.names) for s in board.entries],
        )


class AroundOut(BoardViewOut):
    pass


class FriendsBoardOut(BoardViewOut):
    pass


# --- admin ------------------------------------------------------------------------------------


class ReconcileIn(Model):
    user_ids: Annotated[list[UserId], msgspec.Meta(max_length=1000)] | None = None


class FriendsRebuildIn(Model):
    user_ids: Annotated[list[UserId], msgspec.Meta(max_length=1000)] | None = None


class FriendsRebuildOut(Out):
    friends: dict[str, int]  # user id → friends kept now


class ReconcileReportOut(Out):
    user_id: str
    seq: int
    entries: int
    consistent: bool
    repaired: bool
    balanced: bool
    balances: dict[str, int]
    ledger_sums: dict[str, int]
    problems: list[str]

    @classmethod
    def of(cls, r: Report) -> ReconcileReportOut:
        return cls(
            user_id=r.user_id,
            seq=r.seq,
            entries=r.entries,
            consistent=r.consistent,
            repaired=r.repaired,
            balanced=r.balanced,
            balances=r.balances,
            ledger_sums=r.ledger_sums,
            problems=r.problems,
        )


class ReconcileOut(Out):
    reports: list[ReconcileReportOut]


class RebuildOut(Out):
    boards: dict[str, int]


class BackfillOut(Out):
    wallets: int
