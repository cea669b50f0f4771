"""Wallet snapshots (collection ``wallet_states``): the wallet is ``fold(ledger[1..seq])``
(:mod:`gamification_service.domain.wallet`), kept as a per-user chain of the kit's write
path (:mod:`deepiri_kit.chain`). Applying ledger entry ``n`` is claiming snapshot ``n``, so of
two writers applying the same entry exactly one succeeds, and a snapshot, once written,
never changes. A snapshot records the entry's outcome (``applied`` / ``rejected``) and carries
its events (outbox); delivering them also puts the newest state on the leaderboards.

Old snapshots are pruned to their ``_id`` and outcome, never deleted: the ``_id`` is what
stops a slow writer holding an old state from inserting it a second time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import msgspec
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit import Worker, utcnow
from deepiri_kit.chain import OUTBOX, Chain, link_id
from deepiri_kit.events import EventBus
from gamification_service.domain.wallet import Outcome, WalletState, initial
from gamification_service.store.boards import Boards

Document = dict[str, Any]
INDEXES = [
    IndexModel([("user_id", ASCENDING), ("seq", DESCENDING)], name="user_seq", unique=True),
    IndexModel([("at", ASCENDING)], name="at"),
]
KEEP = 3
POINTER_EVERY = 10
HEAD_CACHE = 100_000


def encode_state(state: WalletState) -> Document:
    doc: Document = msgspec.to_builtins(state, builtin_types=(datetime,))
    return doc


def decode_state(doc: Document | None) -> WalletState:
    if not doc or "state" not in doc:
        return initial()
    return msgspec.convert(doc["state"], WalletState)


class Snapshots:
    def __init__(self, db: AsyncDatabase[Document], boards: Boards, bus: EventBus) -> None:
        # The hot path starts from the newest snapshot this process has seen (the chain's
        # cache) instead of reading; if another replica moved on, the snapshot claim loses
        # and the state is read again: a stale cache costs a retry, never a wrong balance.
        self.chain = Chain(
            db["wallet_states"],
            bus,
            cache=HEAD_CACHE,
            pointers=db["wallet_heads"],
            pointer_every=POINTER_EVERY,
            on_deliver=self._sync_boards,
        )
        self.states = self.chain.links
        self.boards = boards

    async def ensure_indexes(self) -> None:
        await self.chain.ensure_indexes(*INDEXES)

    def workers(self, *, interval: float, min_age: float) -> list[Worker]:
        """The chain's sweeper (events a crash or a Redis outage left) and compactor."""
        return list(self.chain.workers(interval=interval, min_age=min_age))

    async def sweep(self, min_age: float = 0.0) -> int:
        """Deliver snapshots' events their writers left (what the chain's sweeper does)."""
        return await self.chain.sweep(min_age)

    async def compact(self) -> int:
        return await self.chain.compact()

    # --- reading ---------------------------------------------------------------------------

    async def head(self, user_id: str) -> Document | None:
        """The newest snapshot (the wallet as it is), outbox left out."""
        return await self.chain.head(user_id)

    async def state(self, user_id: str) -> WalletState:
        """The wallet as stored (what the API shows)."""
        return decode_state(await self.head(user_id))

    async def current(self, user_id: str) -> WalletState:
        """The wallet as this process last saw it, or as stored (for writers, not readers)."""
        cached = self.chain.cached(user_id)
        return decode_state(cached) if cached is not None else await self.state(user_id)

    def seen(self, user_id: str) -> int | None:
        """The newest sequence number this process has seen applied (snapshots are never
        taken back, so anything at or below it is applied)."""
        cached = self.chain.cached(user_id)
        return None if cached is None else int(cached["seq"])

    async def outcome(self, user_id: str, seq: int) -> tuple[str, str]:
        """``(outcome, reason)`` of entry ``seq``; ``pending`` when not applied yet."""
        snapshot = await self.states.find_one(
            {"_id": link_id(user_id, seq)}, {"outcome": 1, "reason": 1}
        )
        if snapshot is None or "outcome" not in snapshot:
            return "pending", ""
        return snapshot["outcome"], snapshot.get("reason", "")

    async def outcomes(self, user_id: str, seqs: Sequence[int]) -> dict[int, str]:
        """``applied`` / ``rejected`` per sequence number; missing ones are still pending."""
        if not seqs:
            return {}
        ids = [link_id(user_id, n) for n in seqs]
        found = self.states.find({"_id": {"$in": ids}}, {"seq": 1, "outcome": 1})
        return {d["seq"]: d["outcome"] async for d in found if "outcome" in d}

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

    # --- writing ---------------------------------------------------------------------------

    async def claim(
        self,
        user_id: str,
        state: WalletState,
        outcome: Outcome,
        reason: str,
        outbox: list[Document],
    ) -> Document | None:
        """Snapshot ``state`` (entry ``state.seq`` applied) with its events; None when another
        writer applied that entry first (this process then forgets its cached head)."""
        snapshot: Document = {
            "user_id": user_id,
            "seq": state.seq,
            "state": encode_state(state),
            "outcome": outcome,
            "at": utcnow(),
        }
        if reason:
            snapshot["reason"] = reason
        link = await self.chain.claim(user_id, state.seq, snapshot, outbox=outbox)
        if link is None:
            self.chain.forget(user_id)
        return link

    async def deliver(self, link: Document) -> bool:
        """Publish a snapshot's events now (False: left to the sweep)."""
        return await self.chain.deliver(link)

    async def rewrite(self, user_id: str, state: WalletState, outcome: str) -> None:
        """Replace the snapshot at ``state.seq`` (a repair after reconciliation proved the
        stored wallet wrong)."""
        doc_id = link_id(user_id, state.seq)
        await self.states.replace_one(
            {"_id": doc_id},
            {
                "_id": doc_id,
                "user_id": user_id,
                "seq": state.seq,
                "state": encode_state(state),
                "outcome": outcome,
                "at": utcnow(),
                "repaired": True,
            },
            upsert=True,
        )
        self.chain.forget(user_id)

    async def erase(self, user_id: str) -> int:
        """Delete the user's wallet: every snapshot, their delivery markers and the head
        pointer (a deleted account). How many snapshots went."""
        return await self.chain.erase(user_id)

    async def prune(self, batch: int = 200) -> int:
        """Old snapshots are history the ledger already has: keep the last few per user in
        full and strip the rest down to ``_id`` and outcome. Snapshots still holding an
        outbox are left to the chain's sweep, so the two never rewrite the same document.
        Returns how many it stripped."""
        newest: dict[str, int] = {}
        full: list[tuple[str, int, str]] = []
        async for doc in self.states.find({"state": {"$exists": True}}, {"user_id": 1, "seq": 1}):
            newest[doc["user_id"]] = max(newest.get(doc["user_id"], 0), doc["seq"])
            full.append((doc["user_id"], doc["seq"], doc["_id"]))
        old = [i for u, n, i in full if n < newest[u] - KEEP]
        for start in range(0, len(old), batch):
            await self.states.update_many(
                {"_id": {"$in": old[start : start + batch]}, OUTBOX: {"$exists": False}},
                {"$unset": {"state": ""}, "$set": {"pruned": True}},
            )
        return len(old)

    async def _sync_boards(self, user_id: str, snapshot: Document) -> None:
        """Run by the chain before a snapshot's events go out: the boards take the newest
        state (their version guard ignores older ones)."""
        newest = self.chain.cached(user_id)
        if newest is None or "state" not in newest:
            newest = await self.head(user_id)
        await self.boards.sync_wallet(user_id, decode_state(newest))
