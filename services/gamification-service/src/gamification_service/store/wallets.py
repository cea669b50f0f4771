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
kept as an insert-only chain of snapshots (collection ``wallet_states``, ``_id`` =
``<user>:<seq>``): applying entry ``n`` means *inserting* snapshot ``n`` computed from
snapshot ``n-1``. The unique ``_id`` is the commit point — of two processes applying the
same entry, exactly one insert succeeds, the other reloads and moves on — so an entry is
applied exactly once, and a snapshot, once written, never changes. (Inserts are used rather
than a compare-and-set ``update_one({_id, seq: n-1}, …)`` because FerretDB, our test
server, evaluates an update's filter and writes the document in two steps, so two
concurrent conditional updates can both succeed; a unique insert is atomic everywhere.)
Debits the balance cannot cover are rejected by the fold, so no balance goes below zero.
Old snapshots are pruned; the newest is the wallet.

An entry's outcome (``applied`` or ``rejected``) is recorded in its snapshot. A crash
between the ledger insert and the snapshot leaves an entry ahead of the wallet, which the
next write for that user or the reconciler applies. ``reconcile`` also replays the whole
ledger and proves ``wallet == fold(ledger)`` — in particular every balance except energy
equals the sum of its applied ledger amounts (energy regenerates with time, so it is the
fold, not a sum) — and repairs a wallet that differs.

Events (currency credited/spent, level-up, badge awarded) are written into the snapshot's
outbox in the same insert, then published together with the leaderboard update, after which
a ``wallet_delivered`` marker is inserted; if Redis is down, both wait for the relay. The
hot path only ever inserts (FerretDB turns every update into a scan of the collection).
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from redis.exceptions import RedisError

from deepiri_kit import metrics
from deepiri_kit.clock import utcnow
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import EventBus, outbox_entry
from deepiri_kit.events.outbox import OUTBOX, OUTBOX_INDEX, publish_entries
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


def snapshot_id(user_id: str, seq: int) -> str:
    return f"{user_id}:{seq:012d}"


def entry_id(user_id: str, seq: int) -> str:
    return f"{user_id}:{seq:012d}"


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
        self.ledger = db["ledger"]
        self.states = db["wallet_states"]
        self.pointers = db["wallet_heads"]
        self.delivered = db["wallet_delivered"]
        # The newest wallet state this process has seen per user (LRU). The hot path starts
        # from it instead of reading; if another replica moved on, the snapshot insert
        # collides and the state is read again, so a stale entry costs a retry, never a
        # wrong balance.
        self._cache: OrderedDict[str, fold.WalletState] = OrderedDict()
        # Snapshots whose events this process published (the sweep skips them).
        self._sent: OrderedDict[str, None] = OrderedDict()
        self.boards = boards
        self.bus = bus
        self.catalog = list(catalog)
        self.by_id = {b.id: b for b in catalog}
        self.rating_facts = rating_facts

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.ledger, LEDGER_INDEXES)
        await ensure_indexes(
            self.states,
            [
                IndexModel(
                    [("user_id", ASCENDING), ("seq", DESCENDING)], name="user_seq", unique=True
                ),
                OUTBOX_INDEX,
                IndexModel([("at", ASCENDING)], name="at"),
            ],
        )

    # --- reading ---------------------------------------------------------------------------

    async def head(self, user_id: str) -> Document | None:
        """The newest snapshot (the wallet as it is), outbox left out.

        Found by ``_id`` alone (FerretDB pushes nothing else down to its storage, so any other
        filter scans the collection): the ``wallet_heads`` pointer says where to start, and
        the walk goes forward while the next snapshot exists (the pointer may lag)."""
        cached = self._cache.get(user_id)
        seq = cached.seq if cached else 0
        if not seq:
            pointer = await self.pointers.find_one({"_id": user_id})
            seq = pointer["seq"] if pointer else 0
        found: Document | None = None
        if seq:
            found = await self.states.find_one({"_id": snapshot_id(user_id, seq)}, {OUTBOX: 0})
            if found is None or "state" not in found:  # pruned, or a repaired chain: query
                found = await self.states.find_one(
                    {"user_id": user_id, "state": {"$exists": True}},
                    {OUTBOX: 0},
                    sort=[("seq", DESCENDING)],
                )
                seq = found["seq"] if found else 0
        while True:
            nxt = await self.states.find_one({"_id": snapshot_id(user_id, seq + 1)}, {OUTBOX: 0})
            if nxt is None:
                return found
            found, seq = nxt, seq + 1

    def _remember(self, user_id: str, state: fold.WalletState) -> None:
        cached = self._cache.get(user_id)
        if cached is not None and cached.seq > state.seq:
            return
        self._cache[user_id] = state
        self._cache.move_to_end(user_id)
        if len(self._cache) > HEAD_CACHE:
            self._cache.popitem(last=False)

    async def current(self, user_id: str) -> fold.WalletState:
        """The wallet as this process last saw it, or as stored (for writers, not readers)."""
        cached = self._cache.get(user_id)
        return cached if cached is not None else await self.state(user_id)

    async def state(self, user_id: str) -> fold.WalletState:
        """The wallet as stored (what the API shows)."""
        state = decode_state(await self.head(user_id))
        self._remember(user_id, state)
        return state

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
    ) -> Recorded:
        """Append ``draft`` (once per key) and bring the wallet up to date with it.
        ``state``: the wallet as the caller just read it (saves reading it again)."""
        if state is None:
            state = await self.current(user_id)
        entry, created = await self._insert(user_id, draft, state.seq)
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

    async def _insert(self, user_id: str, draft: Draft, after: int = 0) -> tuple[Document, bool]:
        """Insert ``draft`` at the first free sequence number after ``after``.

        The entry's ``_id`` is ``<user>:<seq>``, so claiming a number is the insert itself,
        and the unique ``key`` index refuses a second entry for the same key. On a
        duplicate-key error the ``_id`` tells which of the two it was."""
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
            doc["_id"] = entry_id(user_id, seq)
            doc["seq"] = seq
            try:
                await self.ledger.insert_one(doc)
                return doc, True
            except DuplicateKeyError:
                taken = await self.ledger.find_one({"_id": doc["_id"]})
                if taken is not None and taken["key"] == draft.key:
                    return taken, False
                if taken is None:  # the key exists at another number
                    existing = await self.ledger.find_one({"key": draft.key})
                    if existing is not None:
                        return existing, False
                    continue  # deleted in between: try the same number again
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
        delivered: list[tuple[str, fold.WalletState, list[Document]]] = []
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
                "_id": snapshot_id(user_id, doc["seq"]),
                "user_id": user_id,
                "seq": doc["seq"],
                "state": encode_state(applied.state),
                "outcome": applied.outcome,
                "at": utcnow(),
            }
            if applied.reason:
                snapshot["reason"] = applied.reason
            if entries:
                snapshot[OUTBOX] = entries
            try:
                await self.states.insert_one(snapshot)
            except DuplicateKeyError:  # another writer applied it first: go on from there
                self._cache.pop(user_id, None)
                state = await self.state(user_id)
                continue
            self._remember(user_id, applied.state)
            if doc["seq"] % POINTER_EVERY == 1:
                # The shared pointer only needs to be near the head: the walk does the rest.
                with contextlib.suppress(DuplicateKeyError):  # a concurrent first upsert
                    await self.pointers.update_one(
                        {"_id": user_id}, {"$max": {"seq": doc["seq"]}}, upsert=True
                    )
            self._count(applied, badge)
            results[doc["seq"]] = applied
            state = applied.state
            delivered.append((snapshot["_id"], state, entries))
        if delivered:
            for doc_id, _, entries in delivered:
                if not await self.deliver(user_id, doc_id, state, entries):
                    break
        return state, results

    async def prune_snapshots(self, batch: int = 200) -> int:
        """Old snapshots are history the ledger already has: keep the last few per user in
        full and strip the rest down to ``_id`` and outcome — never delete them, because the
        ``_id`` is what stops a slow writer holding an old state from inserting it a second
        time. Runs in the background (maintenance), in batches; returns how many it stripped."""
        newest: dict[str, int] = {}
        full: list[tuple[str, int, str]] = []
        async for doc in self.states.find({"state": {"$exists": True}}, {"user_id": 1, "seq": 1}):
            newest[doc["user_id"]] = max(newest.get(doc["user_id"], 0), doc["seq"])
            full.append((doc["user_id"], doc["seq"], doc["_id"]))
        old = [i for u, n, i in full if n < newest[u] - KEEP_SNAPSHOTS]
        for start in range(0, len(old), batch):
            ids = old[start : start + batch]
            sent = {d["_id"] async for d in self.delivered.find({"_id": {"$in": ids}})}
            await self.states.update_many(
                {"_id": {"$in": ids}}, {"$unset": {"state": ""}, "$set": {"pruned": True}}
            )
            if sent:
                await self.states.update_many(
                    {"_id": {"$in": list(sent)}}, {"$unset": {OUTBOX: ""}}
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

    # --- outbox and leaderboards -------------------------------------------------------------

    async def deliver(
        self, user_id: str, doc_id: str, state: fold.WalletState, entries: Sequence[Document]
    ) -> bool:
        """Boards first, then events, then clear them; anything that fails waits for the relay."""
        try:
            await self.boards.sync_wallet(user_id, state)
            await publish_entries(self.bus, entries)
        except (RedisError, OSError) as exc:
            log.warning("leaderboards/events for %s deferred to the relay: %s", user_id, exc)
            return False
        if entries:
            with contextlib.suppress(DuplicateKeyError):  # delivered twice: that is all
                await self.delivered.insert_one({"_id": doc_id, "at": utcnow()})
            self._sent[doc_id] = None
            if len(self._sent) > HEAD_CACHE:
                self._sent.popitem(last=False)
        return True

    async def sweep_outbox(self, min_age: float, lookback: float | None = None) -> int:
        """Publish what requests or handlers could not (Redis down, crash) among snapshots
        at least ``min_age`` and (if given) at most ``lookback`` seconds old; returns how
        many events went out."""
        now = utcnow()
        window: Document = {"$lte": now - timedelta(seconds=min_age)}
        if lookback is not None:
            window["$gte"] = now - timedelta(seconds=lookback)
        docs = await self.states.find(
            {OUTBOX: {"$exists": True}, "at": window}, {"user_id": 1, "seq": 1, OUTBOX: 1}
        ).to_list()
        docs = [d for d in docs if d["_id"] not in self._sent]
        if not docs:
            return 0
        done = {
            d["_id"] async for d in self.delivered.find({"_id": {"$in": [d["_id"] for d in docs]}})
        }
        delivered = 0
        for doc in sorted(docs, key=lambda d: (d["user_id"], d["seq"])):
            if doc["_id"] in done:
                continue
            # The boards take the newest state (the version guard ignores older ones).
            current = self._cache.get(doc["user_id"]) or await self.state(doc["user_id"])
            if await self.deliver(doc["user_id"], doc["_id"], current, doc[OUTBOX]):
                delivered += len(doc[OUTBOX])
        return delivered

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
            cached = self._cache.get(user_id)
            if cached is not None and cached.seq >= seq:
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
                await self.deliver(user_id, doc_id, replayed, [])
                self._cache[user_id] = replayed
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


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
