"""The use cases: everything a handler, the consumer, a worker or a CLI command would
otherwise repeat. No HTTP here: what goes wrong is a domain error (the kit's, or a
``domain/__init__.py`` subclass of one), which the app maps to a problem document.

* :class:`Wallets` — record a ledger entry and bring the wallet up to date with it
  (exactly once, see ``store/ledger.py`` and ``store/snapshots.py``), spend and convert with
  their balance pre-checks, award badges, reconcile a wallet with its ledger;
* :class:`Ratings` — record a match once and award the badges it unlocks;
* :class:`Leaderboards` — read and rebuild the boards;
* :class:`Reactions` — what consumed events do (``events/consume.py`` decodes them).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec
from pymongo.errors import PyMongoError

from deepiri_kit import InsufficientFunds, idempotency_stamp, metrics, scoped_key, utcnow
from deepiri_kit.contracts import Event
from deepiri_kit.contracts import gamification as announce
from deepiri_kit.contracts.challenges import ChallengeCompleted
from deepiri_kit.contracts.tasks import TaskCompleted
from gamification_service.domain import KeyReused, MatchConflict, Rejected, rewards
from gamification_service.domain import badges as badge_rules
from gamification_service.domain import currencies as money
from gamification_service.domain import ratings as rating_rules
from gamification_service.domain import wallet as fold
from gamification_service.domain.badges import BadgeDef
from gamification_service.domain.boards import WALLET_METRICS, check_metric
from gamification_service.domain.currencies import CURRENCIES
from gamification_service.domain.facts import RatingFacts, facts_for
from gamification_service.domain.levels import progress
from gamification_service.domain.periods import TIMED, Period, expires_at, period_key, period_range
from gamification_service.domain.wallet import Draft, WalletState
from gamification_service.events import publish
from gamification_service.store.boards import Boards, Standing, board_key
from gamification_service.store.ledger import Ledger, to_entry
from gamification_service.store.meta import Meta
from gamification_service.store.profiles import Profiles
from gamification_service.store.ratings import RatingStore
from gamification_service.store.snapshots import Snapshots, decode_state, encode_state

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
MATCH_ATTEMPTS = 100
LAGGING_LOOKBACK = 3600.0


def balances_now(state: WalletState, now: datetime) -> dict[str, int]:
    """The balances with energy regenerated up to ``now``."""
    value, _ = fold.energy_now(state, now)
    return {**state.balances, "energy": value}


# --- wallets ----------------------------------------------------------------------------------


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
    ) -> None:
        self.ledger = ledger
        self.snapshots = snapshots
        self.meta = meta
        self.catalog = list(catalog)
        self.by_id = {b.id: b for b in catalog}
        self.ratings = ratings
        self.rates = dict(rates or {})

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
        ``extra``: further fields stamped on the ledger entry (e.g. an idempotency stamp)."""
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
            state = await self.award_badges(user_id, state)
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
            if not await self.snapshots.deliver(link):
                break  # the rest waits for the sweep too
        return state, results

    # --- badges ----------------------------------------------------------------------------

    async def award_badges(self, user_id: str, state: WalletState | None = None) -> WalletState:
        """Award every badge the user's recorded stats now satisfy (each once, by its key)."""
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
                await self.catch_up(user_id)
                done += 1
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


def wallet_events(
    user_id: str, entry: Mapping[str, Any], applied: fold.Applied, badge: BadgeDef | None
) -> list[Event]:
    """What applying ``entry`` announces: credits, debits, a level-up, a badge."""
    if applied.outcome != "applied":
        return []
    state = applied.state
    change = {
        "user_id": user_id,
        "entry_key": entry["key"],
        "kind": entry["kind"],
        "reason": entry.get("reason", ""),
        "balances": dict(state.balances),
        "level": state.level,
        "ref": dict(entry.get("ref") or {}),
    }
    events: list[Event] = []
    if applied.credited:
        events.append(announce.CurrencyCredited(**change, amounts=applied.credited))
    if applied.debited:
        events.append(announce.CurrencySpent(**change, amounts=applied.debited))
    if applied.leveled_up:
        xp = state.balances.get("xp", 0)
        events.append(
            announce.LevelUp(
                user_id=user_id,
                level=applied.level_after,
                previous_level=applied.level_before,
                xp=xp,
                xp_to_next_level=progress(xp).xp_to_next_level,
            )
        )
    if badge is not None:
        events.append(
            announce.BadgeAwarded(
                user_id=user_id,
                badge_id=badge.id,
                name=badge.name,
                description=badge.description,
                category=badge.category,
                rarity=badge.rarity,
                tier=badge.tier,
                family=badge.family,
                secret=badge.secret,
                reward=badge.payout,
            )
        )
    return events


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


# --- ratings ----------------------------------------------------------------------------------

Teams = Sequence[tuple[Sequence[str], int]]


@dataclass
class RatingStanding:
    """A player's rating in a category and their rank on its all-time board."""

    rating: Document
    rank: int | None


@dataclass
class Opponents:
    rating: float
    candidates: list[Document]
    names: dict[str, str | None]


class Ratings:
    """Ratings per user and category: matches recorded once, each player's chain appended."""

    def __init__(
        self, store: RatingStore, wallets: Wallets, boards: Boards, profiles: Profiles
    ) -> None:
        self.store = store
        self.wallets = wallets
        self.boards = boards
        self.profiles = profiles

    async def record_match(
        self, match_id: str, category: str, teams: Teams
    ) -> tuple[Document, bool]:
        """Record a result once per ``match_id`` and award the badges it unlocks; returns
        the match and whether this call recorded it. The same result again replays it; a
        different one under a used id is a MatchConflict."""
        category = rating_rules.check_category(category)
        rating_rules.validate(
            [rating_rules.Team(tuple(rating_rules.Player(u) for u in m), r) for m, r in teams]
        )
        fingerprint = hashlib.sha256(
            msgspec.json.encode([category, [[sorted(m), r] for m, r in teams]])
        ).hexdigest()
        match, created = await self._record(match_id, category, teams, fingerprint)
        for result in match["results"]:
            await self.wallets.award_badges(result["user_id"])
        return match, created

    async def _record(
        self, match_id: str, category: str, teams: Teams, fingerprint: str
    ) -> tuple[Document, bool]:
        existing = await self.store.match(match_id)
        if existing is not None:
            return await self._replay(existing, fingerprint), False
        user_ids = [u for members, _ in teams for u in members]
        current = {u: await self.store.get(u, category) for u in user_ids}
        changes = rating_rules.rate(
            [
                rating_rules.Team(
                    members=tuple(
                        rating_rules.Player(
                            user_id=u,
                            rating=current[u]["rating"],
                            mu=current[u]["mu"],
                            sigma=current[u]["sigma"],
                        )
                        for u in members
                    ),
                    rank=rank,
                )
                for members, rank in teams
            ]
        )
        match: Document = {
            "_id": match_id,
            "category": category,
            "fingerprint": fingerprint,
            "teams": [{"members": list(m), "rank": r} for m, r in teams],
            "results": [
                {
                    "user_id": c.user_id,
                    "rank": c.rank,
                    "result": c.result,
                    "method": c.method,
                    "delta": c.delta,
                    "mu_delta": c.mu - current[c.user_id]["mu"],
                    "sigma": c.sigma,
                }
                for c in changes
            ],
            "pending": user_ids,
            "at": utcnow(),
            **idempotency_stamp(),  # the insert that commits a keyed request
        }
        if not await self.store.insert_match(match):
            raced = await self.store.match(match_id)
            assert raced is not None
            return await self._replay(raced, fingerprint), False
        return await self.finish(match), True

    async def _replay(self, existing: Document, fingerprint: str) -> Document:
        if existing["fingerprint"] != fingerprint:
            raise MatchConflict(f"match {existing['_id']} was already recorded with another result")
        if existing.get("pending"):
            return await self.finish(existing)
        return existing

    async def finish(self, match: Document) -> Document:
        """Apply the match to every participant still pending (idempotent)."""
        for result in match["results"]:
            user_id = result["user_id"]
            if user_id not in match.get("pending", []):
                continue
            link, appended = await self._apply(match, result)
            await self.store.refresh(link)
            if appended:  # otherwise its writer (or the sweep) publishes it
                await self.store.deliver(link)
            await self.store.settled(match["_id"], user_id)
        return await self.store.close(match["_id"]) or match

    async def _apply(self, match: Document, result: Document) -> tuple[Document, bool]:
        """Append this match to the player's chain once; returns its history link and
        whether this call appended it."""
        match_id, category, user_id = match["_id"], match["category"], result["user_id"]
        for _ in range(MATCH_ATTEMPTS):
            done = await self.store.applied(match_id, user_id)
            if done is not None:
                return done, False
            head = await self.store.get(user_id, category)
            link = rating_rules.after_match(head, match, result)
            changed = announce.RatingChanged(
                user_id=user_id,
                category=category,
                match_id=match_id,
                method=link["method"],
                result=link["result"],
                rank=link["rank"],
                before=link["before"],
                after=link["after"],
                delta=link["delta"],
                peak=round(link["peak"], 4),
                provisional=rating_rules.is_provisional(link["sigma"]),
            )
            claimed, appended = await self.store.append(link, publish.outbox(user_id, [changed]))
            if claimed is not None:
                return claimed, appended
            # another match took the slot: re-read the head
        raise RuntimeError(f"could not append match {match_id} for {user_id}")

    async def finish_pending(self, older_than: float) -> int:
        """Finish matches left pending at least ``older_than`` seconds; returns how many."""
        done = 0
        for match in await self.store.unfinished(older_than):
            try:
                await self.finish(match)
                done += 1
            except PyMongoError as exc:
                log.warning("match %s not finished yet: %s", match["_id"], exc)
        return done

    async def sweep(self, older_than: float) -> int:
        """Finish matches left pending and deliver history links their writers left."""
        return await self.finish_pending(older_than) + await self.store.sweep(older_than)

    async def standing(self, user_id: str, category: str) -> RatingStanding:
        """The player's rating (1500 and provisional before any match) and rank."""
        doc = await self.store.get(user_id, rating_rules.check_category(category))
        rank = None
        if doc.get("matches", 0):
            try:
                me, _, _ = await self.boards.around(
                    board_key(f"rating-{category}", "all", "all"), user_id, 0
                )
                rank = me.rank if me else None
            except Exception:  # the rank is a nicety; Redis may be down
                rank = None
        return RatingStanding(doc, rank)

    async def history(
        self, user_id: str, category: str, limit: int, before_seq: int | None
    ) -> tuple[list[Document], bool]:
        """The player's rating changes, newest first, and whether more follow."""
        category = rating_rules.check_category(category)
        docs = await self.store.history_page(user_id, category, limit + 1, before_seq)
        return docs[:limit], len(docs) > limit

    async def opponents(self, user_id: str, category: str, limit: int) -> Opponents:
        """Rated players within the opponent window of the caller, closest first."""
        me = await self.store.get(user_id, rating_rules.check_category(category))
        candidates = await self.store.candidates(user_id, category, me["rating"], limit)
        by_id = {d["user_id"]: d for d in candidates}
        chosen = rating_rules.closest(
            me["rating"], [(d["user_id"], d["rating"]) for d in candidates], limit
        )
        docs = [by_id[u] for u, _ in chosen]
        names = await safe_names(self.profiles, [d["user_id"] for d in docs])
        return Opponents(me["rating"], docs, names)


# --- leaderboards -----------------------------------------------------------------------------


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

    def __init__(
        self,
        boards: Boards,
        profiles: Profiles,
        ledger: Ledger,
        snapshots: Snapshots,
        ratings: RatingStore,
    ) -> None:
        self.boards = boards
        self.profiles = profiles
        self.ledger = ledger
        self.snapshots = snapshots
        self.ratings = ratings

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
        """Rebuild every board for the periods containing ``now``; returns members per board.

        * XP and coins, all time: each wallet's earned totals (the fold of its ledger).
        * XP and coins, this day / week / month: the sum of the positive amounts of the
          ledger entries stamped inside the period (rejected conversions left out).
        * Ratings, all time: every rating document; per period: each member's rating after
          their last match inside the period.

        Each board is swapped in whole with MongoDB's current versions, so a stale live
        write cannot undo the rebuild. Summing happens here rather than in an aggregation
        (FerretDB computes only the first of several ``$sum`` accumulators in one
        ``$group``)."""
        counts: dict[str, int] = {}
        totals: dict[str, dict[str, float]] = {m: {} for m in WALLET_METRICS}
        versions: dict[str, int] = {}
        async for doc in self.snapshots.heads():
            state = decode_state(doc)
            user_id = doc["user_id"]
            versions[user_id] = state.seq
            for metric in WALLET_METRICS:
                if state.earned.get(metric, 0) > 0:
                    totals[metric][user_id] = state.earned[metric]
        for metric in WALLET_METRICS:
            key = board_key(metric, "all", "all")
            counts[key] = await self.boards.replace(key, totals[metric], None, "wallet", versions)

        for period in TIMED:
            pkey = period_key(period, now)
            start, end = _bounds(period, pkey)
            sums = await self._period_sums(start, end)
            for metric in WALLET_METRICS:
                key = board_key(metric, period, pkey)
                counts[key] = await self.boards.replace(
                    key, sums[metric], expires_at(period, pkey), "wallet", {}
                )

        for category in rating_rules.CATEGORIES:
            metric = f"rating-{category}"
            current: dict[str, float] = {}
            rating_versions: dict[str, int] = {}
            async for doc in self.ratings.rated(category):
                if doc.get("matches", 0) > 0:
                    current[doc["user_id"]] = round(doc["rating"], 2)
                    rating_versions[doc["user_id"]] = doc["version"]
            key = board_key(metric, "all", "all")
            counts[key] = await self.boards.replace(
                key, current, None, f"rating:{category}", rating_versions
            )
            for period in TIMED:
                pkey = period_key(period, now)
                start, end = _bounds(period, pkey)
                latest: dict[str, tuple[datetime, float]] = {}
                async for h in self.ratings.changes_between(category, start, end):
                    seen = latest.get(h["user_id"])
                    if seen is None or h["at"] >= seen[0]:
                        latest[h["user_id"]] = (h["at"], h["after"])
                key = board_key(metric, period, pkey)
                counts[key] = await self.boards.replace(
                    key,
                    {u: round(v, 2) for u, (_, v) in latest.items()},
                    expires_at(period, pkey),
                    f"rating:{category}",
                    {},
                )
        await self.boards.set_names(await self.profiles.all_names())
        return counts

    async def _period_sums(self, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        sums: dict[str, dict[str, float]] = {m: {} for m in WALLET_METRICS}
        entries = await self.ledger.written_in(start, end)
        # Only debits can be rejected; a conversion's credit goes with its debit.
        rejected: set[tuple[str, int]] = set()
        for user_id in {e["user_id"] for e in entries if e["kind"] == "convert"}:
            seqs = [e["seq"] for e in entries if e["user_id"] == user_id and e["kind"] == "convert"]
            outcomes = await self.snapshots.outcomes(user_id, seqs)
            rejected |= {(user_id, n) for n, o in outcomes.items() if o == "rejected"}
        for entry in entries:
            if (entry["user_id"], entry["seq"]) in rejected:
                continue
            for metric in WALLET_METRICS:
                amount = entry.get("amounts", {}).get(metric, 0)
                if amount > 0:
                    board = sums[metric]
                    board[entry["user_id"]] = board.get(entry["user_id"], 0) + amount
        return sums


def _bounds(period: Period, key: str) -> tuple[datetime, datetime]:
    bounds = period_range(period, key)
    assert bounds is not None, f"{period} {key} has bounds"
    return bounds


# --- what consumed events do ------------------------------------------------------------------


class Reactions:
    """The use cases of consumed events (``events/consume.py`` decodes and hands them on)."""

    def __init__(self, wallets: Wallets, profiles: Profiles) -> None:
        self.wallets = wallets
        self.profiles = profiles

    async def on_task_completed(self, event_id: str, user_id: str, event: TaskCompleted) -> None:
        """Pay a completed task's reward once (its ledger key says what "once" means)."""
        facts = fold.TaskFacts.of(event)
        # The state this process last saw: recent completions damp a farmed habit.
        state = await self.wallets.snapshots.current(user_id)
        reward = rewards.task_reward(facts, fold.recent_completions(state))
        ref = {"event_id": event_id, "task_id": event.task_id}
        if event.completion_id:
            ref["completion_id"] = event.completion_id
        draft = Draft(
            key=rewards.credit_key(event.kind, event.task_id, event.completion_id, event_id),
            kind="task",
            amounts=reward.amounts,
            reason=f"{event.kind} completed",
            ref=ref,
            factors=reward.factors,
            task=facts,
        )
        await self.wallets.record(user_id, draft, state=state)

    async def on_challenge_completed(
        self, event_id: str, user_id: str, event: ChallengeCompleted
    ) -> None:
        """Pay a challenge once per user and challenge, whatever the event id."""
        reward = rewards.challenge_reward(event.difficulty, event.points, event.passed)
        draft = Draft(
            key=f"challenge:{user_id}:{event.challenge_id}",
            kind="challenge",
            amounts=reward.amounts,
            reason="challenge passed" if event.passed else "challenge attempted",
            ref={"event_id": event_id, "challenge_id": event.challenge_id},
            challenge=fold.ChallengeFacts.of(event),
        )
        await self.wallets.record(user_id, draft)

    async def on_profile(self, user_id: str, name: str | None, at: datetime) -> None:
        """Keep the newest display name (events can arrive out of order)."""
        await self.profiles.set_name(user_id, name, fold.stored_time(at))


@dataclass
class Gamification:
    """Every use case, on one platform's stores (built by app.build)."""

    wallets: Wallets
    ratings: Ratings
    leaderboards: Leaderboards
    reactions: Reactions
