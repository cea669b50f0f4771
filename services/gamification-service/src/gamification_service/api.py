"""HTTP handlers: parse, authorize, call the domain and the stores, shape the response.

Errors: a malformed body or query is a 400 (from validation); a well-formed request that
breaks a rule — unknown currency, amount out of bounds, unknown conversion, invalid match —
is a 422; insufficient funds and a reused match id are 409. Nothing is written for any of
them. The caller's own wallet is the only one a user can touch: no route takes a user id
except the admin ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.types import ControllerRouterHandler

from deepiri_kit import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Principal,
    Unprocessable,
    idempotency_stamp,
    requires_scopes,
    scoped_key,
)
from deepiri_kit.clock import utcnow
from deepiri_kit.models import Model, Out, ShortText
from deepiri_kit.pagination import (
    DEFAULT_LIMIT,
    MALFORMED,
    MAX_LIMIT,
    CursorQuery,
    Page,
    decode_cursor,
    encode_cursor,
)
from gamification_service.domain import DomainError, InsufficientFunds, InvalidMatch, levels
from gamification_service.domain import badges as badge_rules
from gamification_service.domain import currencies as money
from gamification_service.domain import energy as energy_rules
from gamification_service.domain import ratings as rating_rules
from gamification_service.domain.facts import facts_for
from gamification_service.domain.periods import PERIODS, Period, period_key, period_range
from gamification_service.domain.wallet import energy_now
from gamification_service.store.boards import METRICS, Boards, Standing, board_key
from gamification_service.store.maintenance import backfill_badges
from gamification_service.store.profiles import Profiles
from gamification_service.store.ratings import MatchConflict, RatingStore
from gamification_service.store.rebuild import rebuild_all
from gamification_service.store.wallets import Draft, WalletStore

READ, WRITE, ADMIN, RATINGS_WRITE = (
    "gamification:read",
    "gamification:write",
    "gamification:admin",
    "ratings:write",
)


@dataclass
class AdminOps:
    """What admin routes need besides the stores (set up in app.py)."""

    rates: dict[tuple[str, str], money.Rate]
    meta: Any


Wallets = NamedDependency[WalletStore]
Ratings = NamedDependency[RatingStore]
BoardsDep = NamedDependency[Boards]
ProfilesDep = NamedDependency[Profiles]
Ops = NamedDependency[AdminOps]
Req = Request[Principal, Any, Any]
UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


def _unprocessable(exc: DomainError) -> Unprocessable:
    return Unprocessable(str(exc))


def _seq_cursor(cursor: str | None, sort: str) -> int | None:
    """The sequence number a ledger or history cursor names (None for the first page)."""
    if not cursor:
        return None
    value, _ = decode_cursor(cursor, sort)
    if not isinstance(value, int):
        raise BadRequest(MALFORMED)
    return value


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


class WalletOut(Out):
    user_id: str
    balances: dict[str, int]
    energy: EnergyOut
    level: LevelOut
    seq: int
    as_of: datetime


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


Amount = Annotated[int, msgspec.Meta(ge=1, le=money.MAX_AMOUNT)]


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


def level_out(xp: int) -> LevelOut:
    p = levels.progress(xp)
    return LevelOut(
        level=p.level,
        xp=p.xp,
        xp_into_level=p.xp_into_level,
        xp_for_next_level=p.xp_for_next_level,
        xp_to_next_level=p.xp_to_next_level,
        progress=p.progress,
    )


def entry_out(doc: dict[str, Any], status: str) -> LedgerEntryOut:
    return LedgerEntryOut(
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


def _balances_now(state: Any, now: datetime) -> dict[str, int]:
    value, _ = energy_now(state, now)
    return {**state.balances, "energy": value}


class WalletController(Controller):
    path = "/wallet"
    tags = ["wallet"]

    @get("/", guards=[requires_scopes(READ)])
    async def wallet(self, request: Req, wallets: Wallets) -> WalletOut:
        """All balances, energy as of now (regenerating 1 per minute up to 100), and level."""
        state = await wallets.state(request.user.subject)
        now = utcnow()
        value, anchor = energy_now(state, now)
        full = value >= energy_rules.ENERGY_MAX
        return WalletOut(
            user_id=request.user.subject,
            balances={**state.balances, "energy": value},
            energy=EnergyOut(
                value=value,
                max=energy_rules.ENERGY_MAX,
                next_point_at=energy_rules.next_point_at(value, anchor),
                full_at=None if full else energy_rules.full_at(value, anchor),
            ),
            level=level_out(state.balances.get("xp", 0)),
            seq=state.seq,
            as_of=now,
        )

    @get("/ledger", guards=[requires_scopes(READ)])
    async def ledger(
        self,
        request: Req,
        wallets: Wallets,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
        currency: FromQuery[money.Currency | None] = None,
    ) -> Page[LedgerEntryOut]:
        """The caller's ledger, newest first (cursor-paginated; optionally one currency)."""
        before = _seq_cursor(cursor, "seq")
        docs = await wallets.ledger_page(request.user.subject, limit + 1, before, currency)
        items = docs[:limit]
        next_cursor = (
            encode_cursor("seq", items[-1]["seq"], items[-1]["_id"]) if len(docs) > limit else None
        )
        outcomes = await wallets.outcomes(request.user.subject, [d["seq"] for d in items])
        return Page(
            items=[entry_out(d, outcomes.get(d["seq"], "pending")) for d in items],
            next_cursor=next_cursor,
        )

    @get("/rates", guards=[requires_scopes(READ)])
    async def rates(self, ops: Ops) -> list[RateOut]:
        """Conversion rates: ``give`` units of ``from`` buy ``get`` units of ``to``."""
        return [
            RateOut(source=r.source, target=r.target, give=r.give, get=r.get)
            for r in ops.rates.values()
        ]

    @post("/spend", guards=[requires_scopes(WRITE)])
    async def spend(
        self, data: JSONBody[SpendIn], request: Req, wallets: Wallets
    ) -> Response[TransactionOut]:
        """Spend from the caller's wallet: 409 when the balance does not cover it."""
        try:
            currency = money.check_currency(data.currency, spendable=True)
            amount = money.check_amount(data.amount)
        except DomainError as exc:
            raise _unprocessable(exc) from None
        return await _transact(
            request, wallets, "spend", {currency: -amount}, data.reason, {"currency": currency}
        )

    @post("/convert", guards=[requires_scopes(WRITE)])
    async def convert(
        self, data: JSONBody[ConvertIn], request: Req, wallets: Wallets, ops: Ops
    ) -> Response[TransactionOut]:
        """Exchange one currency for another at the configured rate, in one ledger entry."""
        try:
            rate = money.convert(ops.rates, data.from_currency, data.to_currency, data.amount)
        except DomainError as exc:
            raise _unprocessable(exc) from None
        amounts = {rate.source: -data.amount, rate.target: data.amount // rate.give * rate.get}
        reason = f"convert {data.amount} {rate.source} to {amounts[rate.target]} {rate.target}"
        return await _transact(
            request, wallets, "convert", amounts, reason, {"from": rate.source, "to": rate.target}
        )


async def _transact(
    request: Req,
    wallets: WalletStore,
    kind: Literal["spend", "convert"],
    amounts: dict[str, int],
    reason: str,
    ref: dict[str, str],
) -> Response[TransactionOut]:
    user_id = request.user.subject
    state = await wallets.state(user_id)
    balances = _balances_now(state, utcnow())
    for currency, amount in amounts.items():
        if amount < 0 and balances.get(currency, 0) < -amount:
            raise _insufficient(InsufficientFunds(currency, -amount, balances.get(currency, 0)))
    idempotency_key = request.headers.get("idempotency-key")
    # Length-prefixed: user "u:x" with key "k" and user "u" with key "x:k" never share an entry.
    key = scoped_key(kind, user_id, idempotency_key or uuid.uuid4().hex)
    recorded = await wallets.record(
        user_id,
        Draft(key=key, kind=kind, amounts=amounts, reason=reason, ref=ref),
        # The ledger entry commits the request: a retry after a crash finds the key on it.
        extra=idempotency_stamp(),
    )
    if not recorded.created and recorded.entry["amounts"] != amounts:
        raise Unprocessable("this Idempotency-Key was used for a different request")
    if recorded.outcome == "rejected":
        # Another spend won the race for the same money: the entry is kept, as rejected.
        raise Conflict(
            f"insufficient funds: {recorded.reason or 'the balance changed'}",
            entry_id=str(recorded.entry["_id"]),
        )
    out = TransactionOut(
        entry=entry_out(recorded.entry, recorded.outcome),
        balances=_balances_now(recorded.state, utcnow()),
        replayed=not recorded.created,
    )
    return Response(out, status_code=201 if recorded.created else 200)


def _insufficient(exc: InsufficientFunds) -> Conflict:
    return Conflict(str(exc), currency=exc.currency, needed=exc.needed, available=exc.available)


@get("/level", guards=[requires_scopes(READ)], tags=["wallet"])
async def level(request: Req, wallets: Wallets) -> LevelOut:
    """The caller's level from the closed-form curve: level L needs 50·L·(L-1) XP."""
    state = await wallets.state(request.user.subject)
    return level_out(state.balances.get("xp", 0))


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


def badge_out(b: badge_rules.BadgeDef) -> BadgeOut:
    return BadgeOut(
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


class BadgeController(Controller):
    path = "/badges"
    tags = ["badges"]

    @get("/", guards=[requires_scopes(READ)])
    async def catalog(self, request: Req, wallets: Wallets) -> CatalogOut:
        """Every badge, except secret ones the caller has not earned (they are only counted)."""
        state = await wallets.state(request.user.subject)
        shown = [b for b in wallets.catalog if not b.secret or b.id in state.badges]
        return CatalogOut(
            badges=[badge_out(b) for b in shown],
            hidden_secret_badges=len(wallets.catalog) - len(shown),
        )

    @get("/me", guards=[requires_scopes(READ)])
    async def mine(self, request: Req, wallets: Wallets, ratings: Ratings) -> MyBadgesOut:
        """Badges earned (newest first) and progress toward every visible badge not yet earned."""
        user_id = request.user.subject
        state = await wallets.state(user_id)
        facts = facts_for(state, await ratings.facts(user_id))
        earned = sorted(state.badges.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        progress = []
        for b in wallets.catalog:
            if b.id in state.badges or b.secret:
                continue
            p = badge_rules.progress(b.rule, facts)
            progress.append(
                ProgressOut(
                    badge=badge_out(b), current=p.current, target=p.target, progress=p.fraction
                )
            )
        return MyBadgesOut(
            earned=[
                EarnedOut(badge=badge_out(wallets.by_id[i]), earned_at=at)
                for i, at in earned
                if i in wallets.by_id
            ],
            progress=progress,
        )


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


def _category(category: str) -> str:
    if category not in rating_rules.CATEGORIES:
        raise NotFound(
            f"no rating category {category!r}; known: {', '.join(rating_rules.CATEGORIES)}"
        )
    return category


class RatingController(Controller):
    path = "/ratings"
    tags = ["ratings"]

    @post("/matches", guards=[requires_scopes(RATINGS_WRITE)])
    async def record_match(
        self, data: JSONBody[MatchIn], request: Req, ratings: Ratings, wallets: Wallets
    ) -> Response[MatchOut]:
        """Record a match result (services only, e.g. challenge-service). Idempotent by
        ``match_id``: the same result again answers 200 with the stored changes; a different
        result under a used id is a 409. Duels use Elo; anything else OpenSkill."""
        if not request.user.is_service:
            raise Forbidden("only services (client-credentials tokens) may record matches")
        if data.category not in rating_rules.CATEGORIES:
            raise Unprocessable(
                f"unknown category {data.category!r}; known: {', '.join(rating_rules.CATEGORIES)}"
            )
        teams = [(t.members, t.rank) for t in data.teams]
        try:
            rating_rules.validate(
                [rating_rules.Team(tuple(rating_rules.Player(u) for u in m), r) for m, r in teams]
            )
            match, created = await ratings.record_match(data.match_id, data.category, teams)
        except InvalidMatch as exc:
            raise _unprocessable(exc) from None
        except MatchConflict:
            raise Conflict(
                f"match {data.match_id} was already recorded with another result"
            ) from None
        for result in match["results"]:
            await wallets.award_badges(result["user_id"])
        out = MatchOut(
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
            replayed=not created,
        )
        return Response(out, status_code=201 if created else 200)

    @get("/{category:str}/me", guards=[requires_scopes(READ)])
    async def mine(
        self, category: FromPath[str], request: Req, ratings: Ratings, boards: BoardsDep
    ) -> RatingOut:
        """The caller's rating in a category (1500 and provisional before any match)."""
        doc = await ratings.get(request.user.subject, _category(category))
        rank = None
        if doc.get("matches", 0):
            try:
                me, _, _ = await boards.around(
                    board_key(f"rating-{category}", "all", "all"), request.user.subject, 0
                )
                rank = me.rank if me else None
            except Exception:  # the rank is a nicety; Redis may be down
                rank = None
        return RatingOut(
            user_id=request.user.subject,
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
            rank=rank,
        )

    @get("/{category:str}/history", guards=[requires_scopes(READ)])
    async def history(
        self,
        category: FromPath[str],
        request: Req,
        ratings: Ratings,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> Page[HistoryOut]:
        """The caller's rating changes in a category, newest first."""
        before = _seq_cursor(cursor, "history")
        docs = await ratings.history_page(
            request.user.subject, _category(category), limit + 1, before
        )
        items = docs[:limit]
        next_cursor = (
            encode_cursor("history", items[-1]["seq"], items[-1]["_id"])
            if len(docs) > limit
            else None
        )
        return Page(
            items=[
                HistoryOut(
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
                for d in items
            ],
            next_cursor=next_cursor,
        )

    @get("/{category:str}/opponents", guards=[requires_scopes(READ)])
    async def opponents(
        self,
        category: FromPath[str],
        request: Req,
        ratings: Ratings,
        profiles: ProfilesDep,
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
    ) -> OpponentsOut:
        """Rated players within ±200 of the caller, closest first."""
        rating, docs = await ratings.opponents(request.user.subject, _category(category), limit)
        names = await _names(profiles, [d["user_id"] for d in docs])
        low, high = rating_rules.opponent_range(rating)
        return OpponentsOut(
            category=category,
            rating=round(rating, 2),
            low=round(low, 2),
            high=round(high, 2),
            opponents=[
                OpponentOut(
                    user_id=d["user_id"],
                    display_name=names.get(d["user_id"]),
                    rating=round(d["rating"], 2),
                    provisional=rating_rules.is_provisional(d["sigma"]),
                    expected_score=round(rating_rules.elo_expected(rating, d["rating"]), 4),
                )
                for d in docs
            ],
        )


# --- leaderboards -----------------------------------------------------------------------------


class StandingOut(Out):
    rank: int
    user_id: str
    display_name: str | None
    value: float


class BoardOut(Out):
    metric: str
    period: str
    period_key: str
    total: int
    entries: list[StandingOut]


class AroundOut(Out):
    metric: str
    period: str
    period_key: str
    total: int
    me: StandingOut | None
    entries: list[StandingOut]


async def _names(profiles: Profiles, user_ids: list[str]) -> dict[str, str | None]:
    try:
        return await profiles.names(user_ids)
    except Exception:  # names are decoration; a board without them still works
        return {}


def _board(metric: str, period: Period, key: str | None) -> tuple[str, str]:
    if metric not in METRICS:
        raise NotFound(f"no leaderboard {metric!r}; known: {', '.join(METRICS)}")
    resolved = key or period_key(period, utcnow())
    try:
        period_range(period, resolved)
    except ValueError:
        raise BadRequest(f"period_key {resolved!r} is not a valid {period} key") from None
    return board_key(metric, period, resolved), resolved


def _standings(items: list[Standing], names: dict[str, str | None]) -> list[StandingOut]:
    return [
        StandingOut(
            rank=s.rank, user_id=s.user_id, display_name=names.get(s.user_id), value=s.value
        )
        for s in items
    ]


PeriodQuery = Annotated[Period, QueryParameter(description=f"one of {', '.join(PERIODS)}")]


class LeaderboardController(Controller):
    path = "/leaderboards"
    tags = ["leaderboards"]

    @get("/{metric:str}", guards=[requires_scopes(READ)])
    async def top(
        self,
        metric: FromPath[str],
        boards: BoardsDep,
        profiles: ProfilesDep,
        period: PeriodQuery = "all",
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
        period_key: FromQuery[str | None] = None,
    ) -> BoardOut:
        """Top N. Metrics: ``xp``, ``coins`` (earned in the period) and ``rating-<category>``.
        Higher first; equal values ordered by user id ascending; ranks are positions."""
        key, resolved = _board(metric, period, period_key)
        items, total = await boards.top(key, limit)
        names = await _names(profiles, [s.user_id for s in items])
        return BoardOut(
            metric=metric,
            period=period,
            period_key=resolved,
            total=total,
            entries=_standings(items, names),
        )

    @get("/{metric:str}/me", guards=[requires_scopes(READ)])
    async def around_me(
        self,
        metric: FromPath[str],
        request: Req,
        boards: BoardsDep,
        profiles: ProfilesDep,
        period: PeriodQuery = "all",
        window: Annotated[int, QueryParameter(ge=0, le=50)] = 5,
        period_key: FromQuery[str | None] = None,
    ) -> AroundOut:
        """The caller's rank and the ``window`` members above and below (``me`` is null when
        the caller is not on this board)."""
        key, resolved = _board(metric, period, period_key)
        me, items, total = await boards.around(key, request.user.subject, window)
        names = await _names(profiles, [s.user_id for s in items])
        mine = _standings([me], names)[0] if me else None
        return AroundOut(
            metric=metric,
            period=period,
            period_key=resolved,
            total=total,
            me=mine,
            entries=_standings(items, names),
        )


# --- admin ------------------------------------------------------------------------------------


class ReconcileIn(Model):
    user_ids: Annotated[list[UserId], msgspec.Meta(max_length=1000)] | None = None


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


class ReconcileOut(Out):
    reports: list[ReconcileReportOut]


class RebuildOut(Out):
    boards: dict[str, int]


class BackfillOut(Out):
    wallets: int


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    guards = [requires_scopes(ADMIN)]

    @post("/leaderboards/rebuild", status_code=200)
    async def rebuild(
        self, wallets: Wallets, ratings: Ratings, boards: BoardsDep, profiles: ProfilesDep
    ) -> RebuildOut:
        """Rebuild every leaderboard (current periods and all time) from MongoDB."""
        return RebuildOut(boards=await rebuild_all(wallets, ratings, boards, profiles, utcnow()))

    @post("/reconcile", status_code=200)
    async def reconcile(self, data: JSONBody[ReconcileIn], wallets: Wallets) -> ReconcileOut:
        """Replay ledgers (the given users, or every wallet) and repair wallets that differ."""
        user_ids = data.user_ids if data.user_ids is not None else await wallets.all_users()
        reports = [await wallets.reconcile(u) for u in user_ids]
        return ReconcileOut(
            reports=[
                ReconcileReportOut(
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
                for r in reports
            ]
        )

    @post("/badges/backfill", status_code=200)
    async def backfill(self, wallets: Wallets, ops: Ops) -> BackfillOut:
        """Evaluate every wallet against the whole badge catalog now."""
        return BackfillOut(
            wallets=await backfill_badges(wallets, ops.meta, wallets.catalog, force=True)
        )


ROUTES: list[ControllerRouterHandler] = [
    WalletController,
    level,
    BadgeController,
    RatingController,
    LeaderboardController,
    AdminController,
]
