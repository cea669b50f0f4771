"""Wallets and the append-only ledger — exactly-once crediting without transactions.

The **ledger** (collection ``ledger``) is the source of truth. Each entry has

* ``key`` — its idempotency key (``task.completed:<event id>``, ``badge:<user>:<badge>``,
  ``spend:<user>:<Idempotency-Key>``…) under a **unique index**: a second delivery of the
  same event cannot create a second entry;
* ``seq`` — its position in the user's ledger, unique per user: an entry claims its number
  by being inserted (a concurrent writer that took the same number retries with the next);
* ``amounts`` — signed integers per currency, never changed after the insert. The only
  nothing in an entry ever changes: the ledger is append-only.

The **wallet** is ``fold(ledger[1..seq])`` (see :mod:`gamification_service.domain.wallet`),
kept as a chain of snapshots (collection ``wallet_states``): applying entry ``n`` means
claiming snapshot ``n``, computed from snapshot ``n-1``, so an entry is applied exactly
once and a snapshot, once written, never changes. Ledger and snapshots are both chains of
the kit's write path (:mod:`deepiri_kit.chain`, which says why they are insert-only), keyed
by user. Debits the balance cannot cover are rejected by the fold, so no balance goes below
zero. Old snapshots are pruned to their ``_id`` and outcome; the newest is the wallet.

An entry's outcome (``applied`` or ``rejected``) is recorded in its snapshot. A crash
between the ledger insert and the snapshot leaves an entry ahead of the wallet, which the
next write for that user or the reconciler applies. ``reconcile`` also replays the whole
ledger and proves ``wallet == fold(ledger)`` — in particular every balance except energy
equals the sum of its applied ledger amounts (energy regenerates with time, so it is the
fold, not a sum) — and repairs a wallet that differs.

Events (currency credited/spent, level-up, badge awarded) ride in the snapshot's outbox and
are delivered by the chain together with the leaderboard update (its ``on_deliver``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from deepiri_kit import metrics
from deepiri_kit.chain import OUTBOX, AlreadyRecorded, Chain, link_id
from deepiri_kit.clock import utcnow
from deepiri_kit.events import EventBus, outbox_entry
from gamification_service.domain import badges as badge_rules
from gamification_service.domain import wallet as fold
from gamification_service.domain.badges import BadgeDef
from gamification_service.domain.currencies import CURRENCIES
from gamification_service.domain.facts import RatingFacts, facts_for
from gamification_service.events import publish
from gamification_service.store.boards import Boards

log = logging.getLogger("gamification.wallets")
Document = dict[str, Any]
RatingFactsSource = Callable[[str], Awaitable[Mapping[str, RatingFacts]]]

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

LEDGER_INDEXES = [
    IndexModel([("key", ASCENDING)], name="key_unique", unique=True),
    IndexModel([("user_id", ASCENDING), ("seq", ASCENDING)], name="user_seq_unique", unique=True),
    IndexModel([("at", ASCENDING)], name="at"),
]
SNAPSHOT_INDEXES = [
    IndexModel([("user_id", ASCENDING), ("seq", DESCENDING)], name="user_seq", unique=True),
    IndexModel([("at", ASCENDING)], name="at"),
]


class Draft(msgspec.Struct, kw_only=True):
    """A ledger entry before it has a sequence number."""

    key: str
    kind: fold.EntryKind
    amounts: dict[str, int]
    reason: str = ""
    ref: dict[str, str] = msgspec.field(default_factory=dict)
    factors: dict[str, float] = msgspec.field(default_factory=dict)
    task: fold.TaskFacts | None = None
    challenge: fold.ChallengeFacts | None = None
    badge: str | None = None


@dataclass
class Recorded:
    entry: Document
    created: bool  # False: the key existed already (a duplicate delivery or retry)
    outcome: str  # "applied" | "rejected" | "pending"
    state: fold.WalletState
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


KEEP_SNAPSHOTS = 3
POINTER_EVERY = 10
HEAD_CACHE = 100_000
# Ledger entries and snapshots are links of per-user chains: ``<user>:<seq>``.
snapshot_id = entry_id = link_id


def encode_state(state: fold.WalletState) -> Document:
    doc: Document = msgspec.to_builtins(state, builtin_types=(datetime,))
    return doc


def decode_state(doc: Document | None) -> fold.WalletState:
    if not doc or "state" not in doc:
        return fold.initial()
    return msgspec.convert(doc["state"], fold.WalletState)


def to_entry(doc: Document) -> fold.Entry:
    return msgspec.convert(
        {
            k: doc[k]
            for k in ("seq", "key", "kind", "amounts", "at", "task", "challenge", "badge")
            if k in doc
        },
        fold.Entry,
    )


class WalletStore:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        boards: Boards,
        bus: EventBus,
        catalog: Sequence[BadgeDef],
        rating_facts: RatingFactsSource | None = None,
    ) -> None:
        self.entries = Chain(db["ledger"])
        # The hot path starts from the newest snapshot this process has seen (the chain's
        # cache) instead of reading; if another replica moved on, the snapshot claim loses
        # and the state is read again: a stale cache costs a retry, never a wrong balance.
        self.snapshots = Chain(
            db["wallet_states"],
            bus,
            cache=HEAD_CACHE,
            pointers=db["wallet_heads"],
            pointer_every=POINTER_EVERY,
            on_deliver=self._sync_boards,
        )
        self.ledger = self.entries.links
        self.states = self.snapshots.links
        self.boards = boards
        self.bus = bus
        self.catalog = list(catalog)
        self.by_id = {b.id: b for b in catalog}
        self.rating_facts = rating_facts

    async def ensure_indexes(self) -> None:
        await self.entries.ensure_indexes(*LEDGER_INDEXES)
        await self.snapshots.ensure_indexes(*SNAPSHOT_INDEXES)

    # --- reading ---------------------------------------------------------------------------

    async def head(self, user_id: str) -> Document | None:
        """The newest snapshot (the wallet as it is), outbox left out."""
        return await self.snapshots.head(user_id)

    async def current(self, user_id: str) -> fold.WalletState:
        """The wallet as this process last saw it, or as stored (for writers, not readers)."""
        cached = self.snapshots.cached(user_id)
        return decode_state(cached) if cached is not None else await self.state(user_id)

    async def state(self, user_id: str) -> fold.WalletState:
        """The wallet as stored (what the API shows)."""
        return decode_state(await self.head(user_id))

    async def ledger_page(
        self, user_id: str, limit: int, before_seq: int | None = None, currency: str | None = None
    ) -> list[Document]:
        query: Document = {"user_id": user_id}
        if before_seq is not None:
            query["seq"] = {"$lt": before_seq}
        if currency is not None:
            query[f"amounts.{currency}"] = {"$exists": True}
        cursor = self.ledger.find(query).sort("seq", DESCENDING).limit(limit)
        return await cursor.to_list()

    # --- writing ---------------------------------------------------------------------------

    async def record(
        self,
        user_id: str,
        draft: Draft,
        *,
        award: bool = True,
        state: fold.WalletState | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Recorded:
        """Append ``draft`` (once per key) and bring the wallet up to date with it.
        ``state``: the wallet as the caller just read it (saves reading it again);
        ``extra``: further fields stamped on the ledger entry (e.g. an idempotency key)."""
        if state is None:
            state = await self.current(user_id)
        entry, created = await self._insert(user_id, draft, state.seq, extra)
        state, results = await self.catch_up(user_id, state, known=[entry])
        applied = results.get(entry["seq"])
        outcome: str
        if applied is not None:
            outcome, reason = applied.outcome, applied.reason
        else:  # applied by a concurrent writer, or earlier (a duplicate)
            outcome, reason = await self._outcome_of(entry, state)
        if award:
            state = await self.award_badges(user_id, state)
        return Recorded(entry=entry, created=created, outcome=outcome, state=state, reason=reason)

    async def _insert(
        self,
        user_id: str,
        draft: Draft,
        after: int = 0,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[Document, bool]:
        """Insert ``draft`` at the first free sequence number after ``after``.

        Claiming a number is the insert itself, and the unique ``key`` index refuses a
        second entry for the same key (the claim then says it was recorded before)."""
        doc: Document = {
            **msgspec.to_builtins(draft, builtin_types=(datetime,)),
            "user_id": user_id,
            "at": utcnow(),
        }
        for name in ("task", "challenge", "badge"):
            if doc.get(name) is None:
                doc.pop(name, None)
        seq = after + 1
        for _ in range(10_000):
            doc["seq"] = seq
            try:
                link = await self.entries.claim(user_id, seq, doc, extra=extra)
            except AlreadyRecorded:  # the key exists at another number
                existing = await self.ledger.find_one({"key": draft.key})
                if existing is not None:
                    return existing, False
                continue  # deleted in between: try the same number again
            if link is not None:
                return link, True
            taken = await self.ledger.find_one({"_id": entry_id(user_id, seq)})
            if taken is not None and taken["key"] == draft.key:
                return taken, False
            seq += 1
        raise RuntimeError(f"could not claim a ledger sequence number for {user_id}")

    async def catch_up(
        self,
        user_id: str,
        state: fold.WalletState | None = None,
        known: list[Document] | None = None,
    ) -> tuple[fold.WalletState, dict[int, fold.Applied]]:
        """Apply ledger entries after the newest snapshot, in order, one insert each.

        ``state`` is a snapshot the caller already holds (a stale one only costs a retry).
        Without ``known``, every entry after it is applied. With ``known`` (entries the caller
        just wrote), entries are read only as far as needed to reach those; anything after
        them is left to its own writer or the reconciler — on FerretDB every read of a
        missing ``_id`` scans the collection, so the hot path does not look for more."""
        if state is None:
            state = await self.state(user_id)
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
                doc = await self.ledger.find_one({"_id": entry_id(user_id, state.seq + 1)})
            if doc is None:
                break
            applied = fold.apply(state, to_entry(doc))
            badge = self.by_id.get(doc["badge"]) if doc.get("badge") else None
            entries = [
                outbox_entry(publish.STREAM, e)
                for e in publish.wallet_events(user_id, doc, applied, badge)
            ]
            snapshot: Document = {
                "user_id": user_id,
                "seq": doc["seq"],
                "state": encode_state(applied.state),
                "outcome": applied.outcome,
                "at": utcnow(),
            }
            if applied.reason:
                snapshot["reason"] = applied.reason
            link = await self.snapshots.claim(user_id, doc["seq"], snapshot, outbox=entries)
            if link is None:  # another writer applied it first: go on from there
                self.snapshots.forget(user_id)
                state = await self.state(user_id)
                continue
            self._count(applied, badge)
            results[doc["seq"]] = applied
            state = applied.state
            written.append(link)
        for link in written:
            if not await self.snapshots.deliver(link):
                break  # the rest waits for the sweep too
        return state, results

    async def prune_snapshots(self, batch: int = 200) -> int:
        """Old snapshots are history the ledger already has: keep the last few per user in
        full and strip the rest down to ``_id`` and outcome — never delete them, because the
        ``_id`` is what stops a slow writer holding an old state from inserting it a second
        time. Snapshots still holding an outbox are left to the chain's sweep, so the two
        never rewrite the same document. Runs in the background (maintenance), in batches;
        returns how many it stripped."""
        newest: dict[str, int] = {}
        full: list[tuple[str, int, str]] = []
        async for doc in self.states.find({"state": {"$exists": True}}, {"user_id": 1, "seq": 1}):
            newest[doc["user_id"]] = max(newest.get(doc["user_id"], 0), doc["seq"])
            full.append((doc["user_id"], doc["seq"], doc["_id"]))
        old = [i for u, n, i in full if n < newest[u] - KEEP_SNAPSHOTS]
        for start in range(0, len(old), batch):
            await self.states.update_many(
                {"_id": {"$in": old[start : start + batch]}, OUTBOX: {"$exists": False}},
                {"$unset": {"state": ""}, "$set": {"pruned": True}},
            )
        return len(old)

    def _count(self, applied: fold.Applied, badge: BadgeDef | None) -> None:
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

    async def _outcome_of(self, entry: Document, state: fold.WalletState) -> tuple[str, str]:
        if entry["seq"] > state.seq:
            return "pending", ""
        snapshot = await self.states.find_one(
            {"_id": snapshot_id(entry["user_id"], entry["seq"])}, {"outcome": 1, "reason": 1}
        )
        if snapshot is None or "outcome" not in snapshot:
            return "pending", ""
        return snapshot["outcome"], snapshot.get("reason", "")

    async def outcomes(self, user_id: str, seqs: Sequence[int]) -> dict[int, str]:
        """``applied`` / ``rejected`` per sequence number; missing ones are still pending."""
        if not seqs:
            return {}
        ids = [snapshot_id(user_id, n) for n in seqs]
        found = self.states.find({"_id": {"$in": ids}}, {"seq": 1, "outcome": 1})
        return {d["seq"]: d["outcome"] async for d in found if "outcome" in d}

    # --- badges ----------------------------------------------------------------------------

    async def award_badges(
        self, user_id: str, state: fold.WalletState | None = None
    ) -> fold.WalletState:
        """Award every badge the user's recorded stats now satisfy (each once, by its key)."""
        state = state or await self.state(user_id)
        for _ in range(5):  # badge rewards can unlock further badges; converge
            unearned = [b for b in self.catalog if b.id not in state.badges]
            if not unearned:
                break
            ratings: Mapping[str, RatingFacts] = {}
            if self.rating_facts is not None and any(
                badge_rules.uses_ratings(b.rule) for b in unearned
            ):
                ratings = await self.rating_facts(user_id)
            earned = badge_rules.newly_earned(self.catalog, facts_for(state, ratings))
            if not earned:
                break
            written: list[Document] = []
            after = state.seq
            for badge in earned:
                doc, _ = await self._insert(
                    user_id,
                    Draft(
                        key=f"badge:{user_id}:{badge.id}",
                        kind="badge",
                        amounts=badge.payout,
                        reason=f"badge {badge.id}",
                        ref={"badge_id": badge.id},
                        badge=badge.id,
                    ),
                    after,
                )
                written.append(doc)
                after = max(after, int(doc["seq"]))
            state, _ = await self.catch_up(user_id, state, known=written)
        return state

    # --- leaderboards -------------------------------------------------------------------------

    async def _sync_boards(self, user_id: str, snapshot: Document) -> None:
        """Run by the chain before a snapshot's events go out: the boards take the newest
        state (their version guard ignores older ones)."""
        newest = self.snapshots.cached(user_id)
        if newest is None or "state" not in newest:
            newest = await self.head(user_id)
        await self.boards.sync_wallet(user_id, decode_state(newest))

    # --- reconciliation ------------------------------------------------------------------------

    async def lagging_users(self, older_than: float, lookback: float = 3600) -> list[str]:
        """Users with ledger entries (written ``older_than`` seconds ago or more, within the
        last ``lookback`` seconds) that their wallet has not applied: a writer crashed."""
        now = utcnow()
        query = {
            "at": {
                "$gte": now - timedelta(seconds=lookback),
                "$lte": now - timedelta(seconds=older_than),
            }
        }
        newest: dict[str, int] = {}
        async for doc in self.ledger.find(query, {"user_id": 1, "seq": 1}):
            newest[doc["user_id"]] = max(newest.get(doc["user_id"], 0), doc["seq"])
        lagging = []
        for user_id, seq in newest.items():
            cached = self.snapshots.cached(user_id)
            if cached is not None and cached["seq"] >= seq:
                continue  # this process applied it (snapshots are never taken back)
            if (await self.state(user_id)).seq < seq:
                lagging.append(user_id)
        return lagging

    async def reconcile(self, user_id: str, *, repair: bool = True) -> Report:
        """Replay the user's whole ledger and compare with the wallet; repair if asked."""
        problems: list[str] = []
        docs = await self.ledger.find({"user_id": user_id}).sort("seq", ASCENDING).to_list()
        entries = [to_entry(d) for d in docs]
        for expected, entry in enumerate(entries, start=1):
            if entry.seq != expected:
                problems.append(f"ledger sequence gap at {expected}")
                entries = entries[: expected - 1]
                break
        replayed, outcomes = fold.replay(entries)
        stored_doc = await self.head(user_id)
        stored = decode_state(stored_doc)
        consistent = encode_state(stored) == encode_state(replayed)
        repaired = False
        if not consistent and repair:
            if stored.seq < replayed.seq:
                # The usual case after a crash: entries written but not applied yet.
                problems.append(f"wallet at seq {stored.seq}, ledger at {replayed.seq}: caught up")
                stored, _ = await self.catch_up(user_id)
            if encode_state(stored) != encode_state(replayed):
                problems.append("wallet differed from its ledger: rewritten from the replay")
                doc_id = snapshot_id(user_id, replayed.seq)
                await self.states.replace_one(
                    {"_id": doc_id},
                    {
                        "_id": doc_id,
                        "user_id": user_id,
                        "seq": replayed.seq,
                        "state": encode_state(replayed),
                        "outcome": outcomes[-1] if outcomes else "applied",
                        "at": utcnow(),
                        "repaired": True,
                    },
                    upsert=True,
                )
                self.snapshots.forget(user_id)
                with contextlib.suppress(RedisError, OSError):  # the boards' rebuild fixes them
                    await self.boards.sync_wallet(user_id, replayed)
            repaired = True
        sums: dict[str, int] = {}
        for entry, outcome in zip(entries, outcomes, strict=True):
            if outcome == "applied":
                for currency, amount in entry.amounts.items():
                    sums[currency] = sums.get(currency, 0) + amount
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

    async def all_users(self) -> list[str]:
        return sorted(await self.ledger.distinct("user_id"))

    async def heads(self) -> AsyncIterator[Document]:
        """The newest snapshot of every wallet."""
        last = None
        cursor = self.states.find({}, {OUTBOX: 0}).sort(
            [("user_id", ASCENDING), ("seq", DESCENDING)]
        )
        async for doc in cursor:
            if doc["user_id"] != last:
                last = doc["user_id"]
                yield doc

    async def catch_up_lagging(self, older_than: float, lookback: float = 3600) -> int:
        done = 0
        for user_id in await self.lagging_users(older_than, lookback):
            try:
                await self.catch_up(user_id)
                done += 1
            except PyMongoError as exc:
                log.warning("catching up %s failed, will retry: %s", user_id, exc)
        return done
