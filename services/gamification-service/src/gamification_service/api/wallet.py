"""``/wallet`` and ``/level``: the caller's balances, ledger, spending and conversions. No
route takes a user id: the caller's own wallet is the only one a user can touch."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from deepiri_kit import DEFAULT_LIMIT, CursorQuery, Page, encode_cursor, utcnow
from gamification_service.api.params import READ, WRITE, Caller, Limit, seq_cursor
from gamification_service.domain import currencies as money
from gamification_service.schemas import (
    ConvertIn,
    LedgerEntryOut,
    LevelOut,
    RateOut,
    SpendIn,
    TransactionOut,
    WalletOut,
)
from gamification_service.service import Recorded, Wallets, balances_now

WalletsDep = NamedDependency[Wallets]


def transaction(recorded: Recorded) -> Response[TransactionOut]:
    out = TransactionOut(
        entry=LedgerEntryOut.of(recorded.entry, recorded.outcome),
        balances=balances_now(recorded.state, utcnow()),
        replayed=not recorded.created,
    )
    return Response(out, status_code=201 if recorded.created else 200)


class WalletController(Controller):
    path = "/wallet"
    tags = ["wallet"]

    @get("/", guards=READ)
    async def wallet(self, request: Caller, wallets: WalletsDep) -> WalletOut:
        """All balances, energy as of now (regenerating 1 per minute up to 100), and level."""
        state = await wallets.state(request.user.subject)
        return WalletOut.of(request.user.subject, state, utcnow())

    @get("/ledger", guards=READ)
    async def ledger(
        self,
        request: Caller,
        wallets: WalletsDep,
        limit: Limit = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
        currency: FromQuery[money.Currency | None] = None,
    ) -> Page[LedgerEntryOut]:
        """The caller's ledger, newest first (cursor-paginated; optionally one currency)."""
        page = await wallets.ledger_page(
            request.user.subject, limit, seq_cursor(cursor, "seq"), currency
        )
        last = page.entries[-1][0] if page.entries else None
        return Page(
            items=[LedgerEntryOut.of(doc, status) for doc, status in page.entries],
            next_cursor=encode_cursor("seq", last["seq"], last["_id"])
            if page.more and last
            else None,
        )

    @get("/rates", guards=READ)
    async def rates(self, wallets: WalletsDep) -> list[RateOut]:
        """Conversion rates: ``give`` units of ``from`` buy ``get`` units of ``to``."""
        return [RateOut.of(r) for r in wallets.rates.values()]

    @post("/spend", guards=WRITE)
    async def spend(
        self, data: JSONBody[SpendIn], request: Caller, wallets: WalletsDep
    ) -> Response[TransactionOut]:
        """Spend from the caller's wallet: 409 when the balance does not cover it."""
        recorded = await wallets.spend(
            request.user.subject,
            data.currency,
            data.amount,
            data.reason,
            request.headers.get("idempotency-key"),
        )
        return transaction(recorded)

    @post("/convert", guards=WRITE)
    async def convert(
        self, data: JSONBody[ConvertIn], request: Caller, wallets: WalletsDep
    ) -> Response[TransactionOut]:
        """Exchange one currency for another at the configured rate, in one ledger entry."""
        recorded = await wallets.convert(
            request.user.subject,
            data.from_currency,
            data.to_currency,
            data.amount,
            request.headers.get("idempotency-key"),
        )
        return transaction(recorded)


class LevelController(Controller):
    path = "/level"
    tags = ["wallet"]

    @get("/", guards=READ)
    async def level(self, request: Caller, wallets: WalletsDep) -> LevelOut:
        """The caller's level from the closed-form curve: level L needs 50·L·(L-1) XP."""
        state = await wallets.state(request.user.subject)
        return LevelOut.of(state.balances.get("xp", 0))
