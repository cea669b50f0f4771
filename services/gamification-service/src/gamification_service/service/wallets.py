"""Wallets and their ledger: every change is a ledger entry, applied exactly once (see
``store/ledger.py`` and ``store/snapshots.py``). Spending and converting with their balance
pre-checks, awarding badges, reconciling a wallet with its ledger, and the checks an operator
runs after an outage."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pymongo.errors import PyMongoError

from deepiri_kit import InsufficientFunds, idempotency_stamp, metrics, scoped_key, utcnow
from deepiri_kit.chain import Chain
from gamification_service.domain import AccountDeleted, KeyReused, Rejected, rewards
from gamification_service.domain import badges as badge_rules
from gamification_service.domain import currencies as money
from gamification_service.domain import wallet as fold
from gamification_service.domain.badges import BadgeDef
from gamification_service.domain.currencies import CURRENCIES
from gamification_service.domain.facts import RatingFacts, facts_for
from gamification_service.domain.wallet import Draft, WalletState
from gamification_service.events import publish
from gamification_service.service.announce import wallet_events
from gamification_service.service.erasure import Erasure
from gamification_service.store.ledger import Ledger, to_entry
from gamification_service.store.meta import Meta
from gamification_service.store.ratings import RatingStore
from gamification_service.store.snapshots import Snapshots, encode_state

log = logging.getLogger("gamification.service")
Document = dict[str, Any]

CREDITED = metrics.counter(
    "deepiri_currency_credited_total", "Currency credited to wallets.", ("currency",)
)
DEBITED = metrics.counter("deepiri_currency_debited_total", "Currency spent.", ("currency",))
LEVEL_UPS = metrics.counter("deepiri_level_ups_total", "Level-ups.")
BADGES_AWARDED = metrics.counter("deepiri_badges_awarded_total", "Badges awarded.", ("rarity",))
REJECTED = metrics.counter(
    "deepiri_ledger_rejected_total", "Ledger entries rejected for insufficient funds."
)
RECONCILED = metrics.counter(
    "deepiri_wallets_reconciled_total", "Wallets checked by replaying their ledger.", ("result",)
)
BADGE_ROUNDS = 5  # badge rewards can unlock further badges; evaluate until nothing changes
LAGGING_LOOKBACK = 3600.0


def balances_now(state: WalletState, now: datetime) -> dict[str, int]:
    """The balances with energy regenerated up to ``now``."""
    value, _ = fold.energy_now(state, now)
    return {**state.balances, "energy": value}


@dataclass
class Recorded:
    entry: Document
    created: bool  # False: the key existed already (a duplicate delivery or retry)
    outcome: str  # "applied" | "rejected" | "pending"
    state: WalletState
    reason: str = ""


@dataclass
class Report:
    user_id: str
    seq: int
    entries: int
    consistent: bool
    repaired: bool
    balances: dict[str, int]
    ledger_sums: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return all(
            self.balances.get(c, 0) == self.ledger_sums.get(c, 0)
            for c in CURRENCIES
            if c != "energy"
        )


@dataclass
class LedgerPage:
    entries: list[tuple[Document, str]]  # entry, outcome (pending until applied)
    more: bool


@dataclass
class BadgeStatus:
    earned: list[tuple[BadgeDef, datetime]]
    progress: list[tuple[BadgeDef, badge_rules.Progress]]


@dataclass
class CreditCheck:
    completions: int = 0
    credited: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)


CHECK_BATCH = 500


class Wallets:
    """Wallets and their ledger: every change is a ledger entry, applied exactly once."""

    def __init__(
        self,
        ledger: Ledger,
        snapshots: Snapshots,
        meta: Meta,
        catalog: Sequence[BadgeDef],
        *,
        ratings: RatingStore | None = None,
        rates: Mapping[tuple[str, str], money.Rate] | None = None,
        erasure: Erasure | None = None,
    ) -> None:
        self.ledger = ledger
        self.snapshots = snapshots
        self.meta = meta
        self.catalog = list(catalog)
        self.by_id = {b.id: b for b in catalog}
        self.ratings = ratings
        self.rates = dict(rates or {})
        self.erasure = erasure

    # --- reading ---------------------------------------------------------------------------

    async def state(self, user_id: str) -> WalletState:
        return await self.snapshots.state(user_id)

    async def ledger_page(
        self, user_id: str, limit: int, before_seq: int | None, currency: str | None
    ) -> LedgerPage:
        """The user's entries, newest first, each with its outcome."""
        docs = await self.ledger.page(user_id, limit + 1, before_seq, currency)
        items = docs[:limit]
        outcomes = await self.snapshots.outcomes(user_id, [d["seq"] for d in items])
        return LedgerPage(
            [(d, outcomes.get(d["seq"], "pending")) for d in items], more=len(docs) > limit
        )

    async def outcomes(self, user_id: str, seqs: Sequence[int]) -> dict[int, str]:
        return await self.snapshots.outcomes(user_id, seqs)

    async def visible_badges(self, user_id: str) -> tuple[list[BadgeDef], int]:
        """The catalog as the user sees it: secret badges only once earned (the rest are
        counted, second)."""
        state = await self.snapshots.state(user_id)
        shown = [b for b in self.catalog if not b.secret or b.id in state.badges]
        return shown, len(self.catalog) - len(shown)

    async def badges_of(self, user_id: str) -> BadgeStatus:
        """Badges earned (newest first) and progress toward every visible one not yet."""
        state = await self.snapshots.state(user_id)
        ratings = await self.ratings.facts(user_id) if self.ratings is not None else {}
        facts = facts_for(state, ratings)
        earned = sorted(state.badges.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        return BadgeStatus(
            earned=[(self.by_id[i], at) for i, at in earned if i in self.by_id],
            progress=[
                (b, badge_rules.progress(b.rule, facts))
                for b in self.catalog
                if b.id not in state.badges and not b.secret
            ],
        )

    # --- spending --------------------------------------------------------------------------

    async def spend(
        self, user_id: str, currency: str, amount: int, reason: str, idempotency_key: str | None
    ) -> Recorded:
        """Debit the user's wallet: InsufficientFunds when the balance does not cover it."""
        currency = money.check_currency(currency, spendable=True)
        amount = money.check_amount(amount)
        return await self._transact(
            user_id, "spend", {currency: -amount}, reason, {"currency": currency}, idempotency_key
        )

    async def convert(
        self, user_id: str, source: str, target: str, amount: int, idempotency_key: str | None
    ) -> Recorded:
        """Exchange one currency for another at the configured rate, in one ledger entry."""
        rate = money.convert(self.rates, source, target, amount)
        amounts = {rate.source: -amount, rate.target: amount // rate.give * rate.get}
        reason = f"convert {amount} {rate.source} to {amounts[rate.target]} {rate.target}"
        ref = {"from": rate.source, "to": rate.target}
        return await self._transact(user_id, "convert", amounts, reason, ref, idempotency_key)

    async def _transact(
        self,
        user_id: str,
        kind: Literal["spend", "convert"],
        amounts: dict[str, int],
        reason: str,
        ref: dict[str, str],
        idempotency_key: str | None,
    ) -> Recorded:
        # Checked first, so a refusal normally writes nothing; the fold decides races.
        balances = balances_now(await self.snapshots.state(user_id), utcnow())
        for currency, amount in amounts.items():
            if amount < 0 and balances.get(currency, 0) < -amount:
                available = balances.get(currency, 0)
                raise InsufficientFunds(
                    f"insufficient {currency}: needed {-amount}, available {available}",
                    currency=currency,
                    needed=-amount,
                    available=available,
                )
        # Length-prefixed: user "u:x" with key "k" and user "u" with key "x:k" never meet.
        key = scoped_key(kind, user_id, idempotency_key or uuid.uuid4().hex)
        draft = Draft(key=key, kind=kind, amounts=amounts, reason=reason, ref=ref)
        # The ledger entry commits the request: a retry after a crash finds the key on it.
        recorded = await self.record(user_id, draft, extra=idempotency_stamp())
        if not recorded.created and recorded.entry["amounts"] != amounts:
            raise KeyReused("this Idempotency-Key was used for a different request")
        if recorded.outcome == "rejected":
            # Another spend won the race for the same money: the entry is kept, as rejected.
            raise Rejected(recorded.reason, str(recorded.entry["_id"]))
        return recorded

    # --- the write path --------------------------------------------------------------------

    async def record(
        self,
        user_id: str,
        draft: Draft,
        *,
        award: bool = True,
        state: WalletState | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Recorded:
        """Append ``draft`` (once per key) and bring the wallet up to date with it.
        ``state``: the wallet as the caller just read it (saves reading it again);
        ``extra``: further fields stamped on the ledger entry (e.g. an idempotency stamp).
        AccountDeleted for an erased account: nothing is written for it (what a write
        racing the erasure wrote is erased again)."""
        if self.erasure is not None and await self.erasure.buried(user_id):
            raise AccountDeleted()
        async with self._undone_if_erased(user_id):
            return await self._record(user_id, draft, award, state, extra)

    async def _record(
        self,
        user_id: str,
        draft: Draft,
        award: bool,
        state: WalletState | None,
        extra: Mapping[str, Any] | None,
    ) -> Recorded:
        if state is None:
            state = await self.snapshots.current(user_id)
        entry, created = await self.ledger.append(user_id, draft, state.seq, extra)
        state, results = await self.catch_up(user_id, state, known=[entry])
        applied = results.get(entry["seq"])
        outcome: str
        if applied is not None:
            outcome, reason = applied.outcome, applied.reason
        elif entry["seq"] > state.seq:
            outcome, reason = "pending", ""
        else:  # applied by a concurrent writer, or earlier (a duplicate)
            outcome, reason = await self.snapshots.outcome(user_id, entry["seq"])
        if award:
            state = await self._award_badges(user_id, state)
        return Recorded(entry=entry, created=created, outcome=outcome, state=state, reason=reason)

    async def catch_up(
        self,
        user_id: str,
        state: WalletState | None = None,
        known: list[Document] | None = None,
    ) -> tuple[WalletState, dict[int, fold.Applied]]:
        """Apply ledger entries after the newest snapshot, in order, one insert each.

        ``state`` is a snapshot the caller already holds (a stale one only costs a retry).
        Without ``known``, every entry after it is applied. With ``known`` (entries the caller
        just wrote), entries are read only as far as needed to reach those; anything after
        them is left to its own writer or the maintenance worker — on FerretDB every read of
        a missing ``_id`` scans the collection, so the hot path does not look for more."""
        if state is None:
            state = await self.snapshots.state(user_id)
        results: dict[int, fold.Applied] = {}
        written: list[Document] = []
        waiting = sorted(known or [], key=lambda d: int(d["seq"]))
        while True:
            while waiting and waiting[0]["seq"] <= state.seq:
                waiting.pop(0)
            if known is not None and not waiting:
                break
            doc: Document | None
            if waiting and waiting[0]["seq"] == state.seq + 1:
                doc = waiting.pop(0)
            else:
                doc = await self.ledger.entry(user_id, state.seq + 1)
            if doc is None:
                break
            applied = fold.apply(state, to_entry(doc))
            badge = self.by_id.get(doc["badge"]) if doc.get("badge") else None
            # What applying an entry announces belongs to the action that appended it, even
            # when another writer (a concurrent consumer, the maintenance worker) applies it.
            with Chain.resumed(doc):
                outbox = publish.outbox(user_id, wallet_events(user_id, doc, applied, badge))
                link = await self.snapshots.claim(
                    user_id, applied.state, applied.outcome, applied.reason, outbox
                )
            if link is None:  # another writer applied it first: go on from there
                state = await self.snapshots.state(user_id)
                continue
            _count(applied, badge)
            results[doc["seq"]] = applied
            state = applied.state
            written.append(link)
        for link in written:
            with Chain.resumed(link):
                if not await self.snapshots.deliver(link):
                    break  # the rest waits for the sweep too
        return state, results

    # --- badges ----------------------------------------------------------------------------

    def _undone_if_erased(self, user_id: str) -> AbstractAsyncContextManager[None]:
        """Around a write path for ``user_id``: an erasure that began meanwhile is run again
        once it has written everything, or failed half-way (AccountDeleted)."""
        if self.erasure is None:
            return contextlib.nullcontext()
        return self.erasure.undone_if_erased([user_id], AccountDeleted)

    async def award_badges(self, user_id: str, state: WalletState | None = None) -> WalletState:
        """Award every badge the user's recorded stats now satisfy (each once, by its key).
        AccountDeleted for an account erased meanwhile (what was written is erased again)."""
        async with self._undone_if_erased(user_id):
            return await self._award_badges(user_id, state)

    async def _award_badges(self, user_id: str, state: WalletState | None = None) -> WalletState:
        state = state or await self.snapshots.state(user_id)
        for _ in range(BADGE_ROUNDS):
            unearned = [b for b in self.catalog if b.id not in state.badges]
            if not unearned:
                break
            ratings: Mapping[str, RatingFacts] = {}
            if self.ratings is not None and any(badge_rules.uses_ratings(b.rule) for b in unearned):
                ratings = await self.ratings.facts(user_id)
            earned = badge_rules.newly_earned(self.catalog, facts_for(state, ratings))
            if not earned:
                break
            written: list[Document] = []
            after = state.seq
            for badge in earned:
                doc, _ = await self.ledger.append(user_id, badge_draft(user_id, badge), after)
                written.append(doc)
                after = max(after, int(doc["seq"]))
            state, _ = await self.catch_up(user_id, state, known=written)
        return state

    async def backfill_badges(self, *, force: bool = False) -> int:
        """Award badges added to the catalog since the last run (every badge with ``force``)
        to everyone whose recorded stats qualify; returns how many wallets were evaluated."""
        ids = sorted(b.id for b in self.catalog)
        if not force and await self.meta.badge_catalog() == ids:
            return 0
        users = await self.ledger.users()
        for user_id in users:
            with contextlib.suppress(AccountDeleted):  # erased meanwhile: nothing to award
                await self.award_badges(user_id)
        await self.meta.remember_badge_catalog(ids)
        log.info("badge backfill: %d wallet(s) evaluated against %d badges", len(users), len(ids))
        return len(users)

    # --- reconciliation --------------------------------------------------------------------

    async def users(self) -> list[str]:
        return await self.ledger.users()

    async def reconcile(self, user_id: str, *, repair: bool = True) -> Report:
        """Replay the user's whole ledger and compare with the wallet; repair if asked.

        Proves ``wallet == fold(ledger)``: every balance but energy equals the sum of its
        applied entries (energy regenerates with time, so it is the fold, not a sum)."""
        problems: list[str] = []
        entries = [to_entry(d) for d in await self.ledger.all_of(user_id)]
        for expected, entry in enumerate(entries, start=1):
            if entry.seq != expected:
                problems.append(f"ledger sequence gap at {expected}")
                entries = entries[: expected - 1]
                break
        replayed, outcomes = fold.replay(entries)
        stored = await self.snapshots.state(user_id)
        consistent = encode_state(stored) == encode_state(replayed)
        repaired = False
        if not consistent and repair:
            if stored.seq < replayed.seq:
                # The usual case after a crash: entries written but not applied yet.
                problems.append(f"wallet at seq {stored.seq}, ledger at {replayed.seq}: caught up")
                stored, _ = await self.catch_up(user_id)
            if encode_state(stored) != encode_state(replayed):
                problems.append("wallet differed from its ledger: rewritten from the replay")
                await self.snapshots.rewrite(
                    user_id, replayed, outcomes[-1] if outcomes else "applied"
                )
            repaired = True
        sums = fold.applied_sums(entries, outcomes)
        RECONCILED.labels("consistent" if consistent else "repaired" if repaired else "drift").inc()
        return Report(
            user_id=user_id,
            seq=replayed.seq,
            entries=len(entries),
            consistent=consistent,
            repaired=repaired,
            balances={c: v for c, v in replayed.balances.items() if c != "energy"},
            ledger_sums={c: sums.get(c, 0) for c in CURRENCIES if c != "energy"},
            problems=problems,
        )

    async def lagging(self, older_than: float, lookback: float = LAGGING_LOOKBACK) -> list[str]:
        """Users with ledger entries (written ``older_than`` seconds ago or more, within the
        last ``lookback`` seconds) that their wallet has not applied: a writer crashed."""
        now = utcnow()
        newest = await self.ledger.newest_between(
            now - timedelta(seconds=lookback), now - timedelta(seconds=older_than)
        )
        lagging = []
        for user_id, seq in newest.items():
            seen = self.snapshots.seen(user_id)
            if seen is not None and seen >= seq:
                continue  # this process applied it (snapshots are never taken back)
            if (await self.snapshots.state(user_id)).seq < seq:
                lagging.append(user_id)
        return lagging

    async def catch_up_lagging(self, older_than: float) -> int:
        """Apply what crashed writers left (the maintenance worker); returns wallets done."""
        done = 0
        for user_id in await self.lagging(older_than):
            try:
                async with self._undone_if_erased(user_id):
                    await self.catch_up(user_id)
                done += 1
            except AccountDeleted:
                continue  # erased meanwhile: nothing to apply
            except PyMongoError as exc:
                log.warning("catching up %s failed, will retry: %s", user_id, exc)
        return done

    async def check_credits(self, completions: Iterable[Mapping[str, Any]]) -> CreditCheck:
        """Which ``task.completed`` events (as task-service's ``completions`` command prints
        them: the event ``id``, ``user_id`` and its data) have no credit in the ledger — the
        check after a bus outage. Replay the missing ones from task-service; what was
        credited meanwhile pays nothing again."""
        report = CreditCheck()
        batch: list[Mapping[str, Any]] = []

        async def flush() -> None:
            keys = [completion_key(c) for c in batch]
            found = await self.ledger.recorded(keys)
            for completion, key in zip(batch, keys, strict=True):
                if key in found:
                    report.credited += 1
                else:
                    report.missing.append({"key": key, **completion})
            batch.clear()

        for completion in completions:
            report.completions += 1
            batch.append(completion)
            if len(batch) >= CHECK_BATCH:
                await flush()
        if batch:
            await flush()
        return report


def badge_draft(user_id: str, badge: BadgeDef) -> Draft:
    return Draft(
        key=f"badge:{user_id}:{badge.id}",
        kind="badge",
        amounts=badge.payout,
        reason=f"badge {badge.id}",
        ref={"badge_id": badge.id},
        badge=badge.id,
    )


def completion_key(completion: Mapping[str, Any]) -> str:
    return rewards.credit_key(
        completion["kind"], completion["task_id"], completion.get("completion_id"), completion["id"]
    )


def _count(applied: fold.Applied, badge: BadgeDef | None) -> None:
    if applied.outcome == "rejected":
        REJECTED.inc()
        return
    for currency, amount in applied.credited.items():
        CREDITED.labels(currency).inc(amount)
    for currency, amount in applied.debited.items():
        DEBITED.labels(currency).inc(amount)
    if applied.leveled_up:
        LEVEL_UPS.inc(applied.level_after - applied.level_before)
    if badge is not None:
        BADGES_AWARDED.labels(badge.rarity).inc()
