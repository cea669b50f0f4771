"""Insert-claimed chains: the one write path for state that must change exactly once.

Why a chain of inserts
----------------------
A record that several writers may change at once (a task, a wallet, a player's rating) is
kept as a chain of immutable links, one per change: link ``n`` of the chain ``key`` is the
document ``_id = "<key>:<n, 12 digits>"`` (:func:`link_id`; the only id format). A writer
*claims* change ``n+1`` by inserting that link: the unique ``_id`` lets exactly one writer
win, and the loser reads the new head and decides again. Conditional updates cannot do
this on FerretDB, our MongoDB-wire test server: it evaluates an update's filter and writes
the document back in two steps, so concurrent compare-and-sets (``update_one({_id,
version: n}, …)``, ``find_one_and_update``, ``$inc``) can all "succeed", one silently
overwriting the other (measured: up to 21 of 30). An insert into a unique index is atomic
on every MongoDB-wire server. FerretDB also pushes down no filter but ``_id`` equality, and
every update scans the collection, so the hot path only inserts, and the head is found by
an ``_id`` walk: start from the newest link this process has seen (the optional cache) or a
shared pointer, and read forward while the next link exists.

A link carries the change's events (``_outbox``, entries from
:func:`deepiri_kit.events.outbox.outbox_entry`): change and events are one atomic insert,
a transactional outbox without transactions. Read models (the task document, a player's
current rating) are :meth:`Chain.project`-ed from the chain and never go backwards.

A link also keeps the trace context of the action that claimed it (``_trace``). Whoever
finishes the link's work later — the sweep delivering it, another writer applying it (a
wallet folding a ledger entry another consumer appended) — does it inside that context
(:meth:`Chain.resumed`), so the events it publishes and announces stay in the trace of the
user's action instead of starting one of their own.

Delivery and its bound
----------------------
After the insert the writer publishes the link's events at once (:meth:`Chain.deliver`)
and records that by inserting a *marker* (collection ``<links>_delivered``, same ``_id``).
So a link holding ``_outbox`` is either **undelivered** (no marker: its writer died, or
Redis was down) or a **leftover** (marker present: delivered, outbox not yet stripped) —
never ambiguous. The chain's :class:`Sweeper`, a kit :class:`~deepiri_kit.workers.Periodic`,
publishes undelivered links at least ``min_age`` seconds old, and the chain's compactor
strips the outboxes of delivered links and drops their markers (:meth:`Chain.workers`
runs both). With Redis and MongoDB reachable, therefore:

* every event is published within ``min_age + interval`` seconds of its write, plus the
  duration of the pass in progress (:attr:`Sweeper.bound`; 5 s + 2 s by default), when
  its writer lives on; within ``lease + interval`` (10 s + 2 s) plus one full pass when
  its writer died;
* no link keeps a delivered outbox for longer than ``compact_every`` (10 min by default)
  plus one compaction; until then its marker tells it from an undelivered one.

Publishing is at least once — a sweep may race a writer slower than ``min_age`` — and
consumers deduplicate by event id (:mod:`deepiri_kit.events.inbox`).

A cheap sweep
-------------
Finding undelivered links means reading every link holding an outbox and every marker:
on FerretDB two scans of collections that only grow (0.1 to 0.3 s each at a few thousand
links, every 2 s, per chain). So the sweeper reads them only when something can be
undelivered: a link is left undelivered either by a writer that is still alive (its
delivery failed or its coroutine was cancelled: the process itself remembers the link,
:meth:`Chain.stuck`) or by a writer that died. Every process that writes links holds a
*lease* (``<links>_writers``: ``{_id: its token, beat}``, renewed by its sweeper each pass,
or on its next write when it has none): a lease not renewed for ``lease`` seconds belongs to
a dead writer, and any sweeper seeing one makes a full pass (:meth:`Chain.undelivered`),
then drops it (a lapsed writer's last link is at least ``2/3 lease`` old, so ``lease`` must
be at least 1.5 ``min_age``: it beats before a write when its lease is a third gone).
A sweeper's passes are full until one starts ``min_age`` after it began (its own process
may follow a dead one), and one every ``full_every`` seconds is too, a safety net. Idle, a pass is one read of
the (tiny) lease collection and one write of its own lease.

On MongoDB 8
------------
Production runs MongoDB 8, where single-document conditional updates are atomic and
multi-document transactions exist. The chains stay correct there unchanged; what could
change is confined to this module, since services call only its API (``claim``, ``head``,
``project``, ``deliver``, ``Sweeper``): a change could be a compare-and-set on the read
model plus the link insert in one transaction (no read-model catch-up loop), delivery could
``$unset`` the outbox in place instead of inserting a marker, and ``head`` could query an
index on ``(key, seq)`` instead of walking ``_id``s.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError
from redis.exceptions import RedisError

from deepiri_kit.clock import utcnow
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events.bus import EventBus
from deepiri_kit.events.outbox import OUTBOX, RELAYED, entry_origin, publish_entries
from deepiri_kit.tracing import origin_fields, resumed, untraced
from deepiri_kit.workers import Periodic

__all__ = [
    "OUTBOX",
    "TRACE",
    "AlreadyRecorded",
    "Chain",
    "Sweeper",
    "link_id",
    "link_key",
    "link_seq",
]

log = logging.getLogger("deepiri.chain")
Document = dict[str, Any]
# (chain key, link) → None: a side effect of delivery (a leaderboard write) or a repair.
Hook = Callable[[str, Document], Awaitable[None]]

SEQ_DIGITS = 12
TRACE = "_trace"  # the claiming action's trace context (traceparent, tracestate)
WITHOUT_OUTBOX = {OUTBOX: 0}
OUTBOX_INDEX = IndexModel([(OUTBOX, 1)], name="outbox_pending", sparse=True)


def link_id(key: str, seq: int) -> str:
    """The ``_id`` of link ``seq`` of chain ``key`` (zero-padded: ``_id`` order is seq order,
    and the fixed-width suffix keeps ids unambiguous whatever the key contains)."""
    return f"{key}:{seq:0{SEQ_DIGITS}d}"


def link_key(link: Mapping[str, Any]) -> str:
    return str(link["_id"]).rsplit(":", 1)[0]


def link_seq(link: Mapping[str, Any]) -> int:
    return int(str(link["_id"]).rsplit(":", 1)[1])


class AlreadyRecorded(Exception):
    """Another unique index of the chain's collection (an idempotency key) refused the link:
    the change was recorded before, under another sequence number."""


class Chain:
    """The links of many chains in one collection, with their delivery markers.

    ``cache``: how many chains' newest links this process remembers (LRU; 0 = none). A
    cached head may be stale when another process moved on; claiming from it then loses
    the insert and the caller re-reads, so staleness costs a retry, never a wrong state.
    ``pointers``: an optional collection of ``{_id: key, seq}`` near each head (moved every
    ``pointer_every`` links), where a walk starts when nothing is cached.
    ``on_deliver`` runs before a link's events are published (e.g. a leaderboard write);
    ``repair`` runs before the sweep delivers a link its writer left (e.g. :meth:`project`);
    ``after_sweep`` after each sweep pass that found links, with them (e.g. a service that
    erases deleted accounts checks their owners again: a link read before an erasure and
    delivered after it has written on a deleted account's behalf).
    """

    def __init__(
        self,
        links: AsyncCollection[Document],
        bus: EventBus | None = None,
        *,
        cache: int = 0,
        pointers: AsyncCollection[Document] | None = None,
        pointer_every: int = 10,
        on_deliver: Hook | None = None,
        repair: Hook | None = None,
        after_sweep: Callable[[list[Document]], Awaitable[None]] | None = None,
        lease: float = 10.0,
    ) -> None:
        self.links = links
        self.delivered = links.database[f"{links.name}_delivered"]
        self.bus = bus
        self.pointers = pointers
        self.pointer_every = pointer_every
        self.on_deliver = on_deliver
        self.repair = repair
        self.after_sweep = after_sweep
        self._capacity = cache
        self._heads: OrderedDict[str, Document] = OrderedDict()
        # This process's lease (see "A cheap sweep"), and the links it claimed with events and
        # has not delivered yet (id → when claimed).
        self.writers = links.database[f"{links.name}_writers"]
        self.lease = lease
        self.token = uuid.uuid4().hex
        self._beaten = 0.0
        self._pending: dict[str, datetime] = {}

    async def ensure_indexes(self, *extra: IndexModel) -> None:
        await ensure_indexes(self.links, [*extra, OUTBOX_INDEX])

    # --- the head ---------------------------------------------------------------------------

    def cached(self, key: str) -> Document | None:
        """The newest link this process has seen (no I/O; possibly stale)."""
        return self._heads.get(key)

    def remember(self, link: Document) -> None:
        """Offer ``link`` to the cache; it is kept if it is the newest seen of its chain."""
        if not self._capacity:
            return
        key = link_key(link)
        known = self._heads.get(key)
        if known is not None and link_seq(known) >= link_seq(link):
            return
        self._heads[key] = {k: v for k, v in link.items() if k != OUTBOX}
        self._heads.move_to_end(key)
        if len(self._heads) > self._capacity:
            self._heads.popitem(last=False)

    def forget(self, key: str) -> None:
        self._heads.pop(key, None)

    async def get(self, key: str, seq: int) -> Document | None:
        return await self.links.find_one({"_id": link_id(key, seq)}, WITHOUT_OUTBOX)

    async def newer(self, key: str, after: int) -> Document | None:
        """The newest link after ``after``, or None if there is none.

        Links are claimed in order (``n+1`` only by a writer that saw ``n``), so a chain has
        no gaps: read forward by ``_id`` until one is missing; usually the first is."""
        newest = None
        while (link := await self.get(key, after + 1)) is not None:
            newest, after = link, after + 1
        if newest is not None:
            self.remember(newest)
        return newest

    async def head(self, key: str, *, after: int = 0) -> Document | None:
        """The chain's newest link (outbox left out), or None for an empty chain.

        The walk starts at the newest of ``after`` (what the caller knows, e.g. a read
        model's version), the cache and the pointer, else at link 1. Only if the starting
        link is gone (links are never deleted; a test may) is the highest ``_id`` queried,
        which scans the collection on FerretDB."""
        cached = self.cached(key)
        start = max(after, link_seq(cached) if cached else 0)
        if not start and self.pointers is not None:
            pointer = await self.pointers.find_one({"_id": key})
            start = int(pointer["seq"]) if pointer else 0
        if not start:
            return await self.newer(key, 0)
        found = await self.get(key, start) or await self._highest(key)
        if found is None:
            return None
        head = await self.newer(key, link_seq(found)) or found
        self.remember(head)
        return head

    async def _highest(self, key: str) -> Document | None:
        pattern = f"^{re.escape(key)}:[0-9]{{{SEQ_DIGITS}}}$"
        return await self.links.find_one(
            {"_id": {"$regex": pattern}}, WITHOUT_OUTBOX, sort=[("_id", DESCENDING)]
        )

    async def erase(self, *keys: str) -> int:
        """Delete the chains ``keys`` whole — links, delivery markers, pointers — and forget
        their cached heads: what erasing a deleted account needs (links are otherwise never
        deleted). Matched by ``_id``, so markers written after the links went are found too.
        Returns how many links went."""
        if not keys:
            return 0
        alternatives = "|".join(re.escape(k) for k in keys)
        pattern = {"$regex": f"^(?:{alternatives}):[0-9]{{{SEQ_DIGITS}}}$"}
        result = await self.links.delete_many({"_id": pattern})
        await self.delivered.delete_many({"_id": pattern})
        if self.pointers is not None:
            await self.pointers.delete_many({"_id": {"$in": list(keys)}})
        for key in keys:
            self.forget(key)
        return result.deleted_count

    @staticmethod
    def resumed(link: Mapping[str, Any]) -> AbstractContextManager[None]:
        """Work on ``link`` (deliver it, apply it, announce what it changes) in the trace of
        the action that claimed it: its ``_trace``, else (links claimed before links kept
        it) the trace its first event carries."""
        origin = link.get(TRACE)
        if not origin and link.get(OUTBOX):
            origin = entry_origin(link[OUTBOX][0])
        return resumed(origin)

    # --- writing ----------------------------------------------------------------------------

    async def claim(
        self,
        key: str,
        seq: int,
        fields: Mapping[str, Any],
        *,
        outbox: Sequence[Document] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> Document | None:
        """Insert link ``seq`` of ``key``: the inserted document, or None if ``seq`` is taken.

        ``outbox`` rides in the same insert; ``extra`` are further fields stamped on the
        link (e.g. the request's idempotency key under a unique index). Raises
        :class:`AlreadyRecorded` if another unique index refused the insert."""
        link: Document = {"_id": link_id(key, seq), **fields, **(extra or {})}
        if outbox:
            link[OUTBOX] = list(outbox)
        if TRACE not in link and (trace := origin_fields()):
            link[TRACE] = trace
        if outbox and time.monotonic() - self._beaten > self.lease / 3:
            await self.beat()  # before the link: a writer that dies after it is noticed
        try:
            await self.links.insert_one(link)
        except DuplicateKeyError:
            if await self.links.find_one({"_id": link["_id"]}, {"_id": 1}) is not None:
                return None
            raise AlreadyRecorded(link["_id"]) from None
        if outbox:  # due by its events' time, as in undelivered()
            self._pending[link["_id"]] = max(_aware(e["at"]) for e in outbox)
        self.remember(link)
        if self.pointers is not None and seq % self.pointer_every == 1:
            # The pointer only needs to be near the head: the walk does the rest.
            with contextlib.suppress(DuplicateKeyError):  # a concurrent first upsert
                await self.pointers.update_one({"_id": key}, {"$max": {"seq": seq}}, upsert=True)
        return link

    async def project(
        self,
        view: AsyncCollection[Document],
        view_id: Any,
        link: Document,
        render: Callable[[Document], Document],
        *,
        version: str = "version",
    ) -> None:
        """Bring the read-model document ``view_id`` up to ``link`` (or a newer link), never
        backwards. ``render(link)`` is the document, its ``version`` field the link's seq.

        Without atomic conditional updates a slower writer may just have put an older
        version back over ours. Whoever writes last sees every newer link (each is claimed
        before its writer projects it), so re-projecting the newest until none is newer
        converges on the chain's head."""
        key = link_key(link)
        while True:
            seq = link_seq(link)
            with contextlib.suppress(DuplicateKeyError):  # the view is newer already
                if seq == 1:
                    await view.insert_one({"_id": view_id, **render(link)})
                else:
                    await view.replace_one(
                        {"_id": view_id, version: {"$lt": seq}}, render(link), upsert=True
                    )
            newer = await self.newer(key, seq)
            if newer is None:
                return
            link = newer

    # --- delivery ---------------------------------------------------------------------------

    async def deliver(self, link: Document, *, path: str = "inline") -> bool:
        """Run ``on_deliver``, publish the link's outbox, mark it delivered. False if it must
        wait for the sweep (Redis or MongoDB unavailable): the write itself stands."""
        entries: list[Document] = link.get(OUTBOX) or []
        try:
            if self.on_deliver is not None:
                await self.on_deliver(link_key(link), link)
            if entries:
                assert self.bus is not None, "a chain with events needs a bus"
                await publish_entries(self.bus, entries)
                with contextlib.suppress(DuplicateKeyError):  # delivered twice: that is all
                    await self.delivered.insert_one({"_id": link["_id"], "at": utcnow()})
        except (RedisError, PyMongoError, OSError) as exc:
            log.warning("delivery of %s deferred to the sweep: %s", link["_id"], exc)
            return False
        self._pending.pop(link["_id"], None)
        if entries:
            RELAYED.labels(path).inc(len(entries))
        return True

    async def undelivered(self, min_age: float = 0.0) -> list[Document]:
        """Links holding events not yet delivered, written at least ``min_age`` s ago
        (whole documents, each chain in order)."""
        cutoff = utcnow() - timedelta(seconds=min_age)
        with untraced():  # polling is not a request: no root span every interval
            marked = {m["_id"] async for m in self.delivered.find({}, {"_id": 1})}
            pending = await self.links.find({OUTBOX: {"$exists": True}}, {OUTBOX: 1}).to_list()
            waiting = [
                link["_id"]
                for link in pending
                if link["_id"] not in marked
                and all(_aware(e["at"]) <= cutoff for e in link[OUTBOX])
            ]
            if not waiting:
                return []
            # Read again, whole: compaction strips an outbox before it drops the marker, so a
            # link whose marker vanished in between has no outbox any more.
            links = await self.links.find(
                {"_id": {"$in": waiting}, OUTBOX: {"$exists": True}}
            ).to_list()
        return sorted(links, key=lambda link: link["_id"])

    # --- leases: which writers are alive ---------------------------------------------------

    async def beat(self) -> None:
        """Renew this process's lease (an upsert of one small document)."""
        self._beaten = time.monotonic()  # concurrent writers: one beat is enough
        try:
            with untraced(), contextlib.suppress(DuplicateKeyError):  # a concurrent upsert
                await self.writers.update_one(
                    {"_id": self.token}, {"$set": {"beat": utcnow()}}, upsert=True
                )
        except BaseException:
            self._beaten = 0.0
            raise

    async def lost_writers(self) -> list[str]:
        """Leases of other processes not renewed for ``lease`` seconds: dead writers."""
        cutoff = utcnow() - timedelta(seconds=self.lease)
        with untraced():
            leases = await self.writers.find({}).to_list()
        return [w["_id"] for w in leases if w["_id"] != self.token and _aware(w["beat"]) < cutoff]

    async def bury(self, tokens: Sequence[str]) -> None:
        """Drop dead writers' leases once a full pass has delivered what they left."""
        if tokens:
            cutoff = utcnow() - timedelta(seconds=self.lease)
            with untraced():
                await self.writers.delete_many(
                    {"_id": {"$in": list(tokens)}, "beat": {"$lt": cutoff}}
                )

    async def stuck(self, min_age: float = 0.0) -> list[Document]:
        """Links this process claimed with events and has not delivered, at least
        ``min_age`` s old (whole documents, in ``_id`` order): no scan when there are none."""
        cutoff = utcnow() - timedelta(seconds=min_age)
        ids = [i for i, at in self._pending.items() if at <= cutoff]
        if not ids:
            return []
        with untraced():
            links = await self.links.find(
                {"_id": {"$in": ids}, OUTBOX: {"$exists": True}}
            ).to_list()
            marked = {
                m["_id"] async for m in self.delivered.find({"_id": {"$in": ids}}, {"_id": 1})
            }
        for gone in set(ids) - {link["_id"] for link in links if link["_id"] not in marked}:
            self._pending.pop(gone, None)  # delivered (or compacted) by another sweep
        return sorted(
            (link for link in links if link["_id"] not in marked), key=lambda link: link["_id"]
        )

    async def sweep(self, min_age: float = 0.0, *, full: bool = True) -> int:
        """Repair and deliver every undelivered link at least ``min_age`` s old; returns how
        many events were published. ``full=False``: only what this process left (see "A
        cheap sweep"; the :class:`Sweeper` decides when a pass must be full)."""
        published = 0
        links = await self.undelivered(min_age) if full else await self.stuck(min_age)
        for link in links:
            with self.resumed(link):  # in the trace of the write that left it
                if self.repair is not None:
                    await self.repair(link_key(link), link)
                if await self.deliver(link, path="sweep"):
                    published += len(link[OUTBOX])
        if links and self.after_sweep is not None:
            await self.after_sweep(links)
        if published:
            log.info("sweep of %s published %d pending event(s)", self.links.name, published)
        return published

    async def compact(self, batch: int = 200) -> int:
        """Strip the outboxes of the links delivered so far, then drop their markers;
        returns how many.

        Updates are what FerretDB does worst (each scans the collection and holds its write
        lock, stalling the hot path's inserts), so this runs seldom, in batches, and only
        over the markers present when it starts: links delivered meanwhile wait for the
        next run, so a steady stream of writes cannot keep it going."""
        with untraced():
            ids = [m["_id"] async for m in self.delivered.find({}, {"_id": 1})]
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            await self.links.update_many(
                {"_id": {"$in": chunk}, OUTBOX: {"$exists": True}}, {"$unset": {OUTBOX: ""}}
            )
            await self.delivered.delete_many({"_id": {"$in": chunk}})
        return len(ids)

    def workers(
        self,
        *,
        interval: float = 2.0,
        min_age: float = 5.0,
        compact_every: float = 600.0,
        full_every: float = 300.0,
    ) -> list[Periodic]:
        """The chain's background workers: its :class:`Sweeper` and its compactor."""
        name = self.links.name
        return [
            Sweeper(
                self,
                interval=interval,
                min_age=min_age,
                name=f"{name}-sweeper",
                full_every=full_every,
            ),
            Periodic(f"{name}-compactor", compact_every, self.compact),
        ]

    async def leftovers(self) -> int:
        """Delivered links whose outbox is not stripped yet (not an undelivered event)."""
        ids = [m["_id"] async for m in self.delivered.find({}, {"_id": 1})]
        return await self.links.count_documents({"_id": {"$in": ids}, OUTBOX: {"$exists": True}})


class Sweeper(Periodic):
    """The kit worker that finishes what a crash or an outage left: every ``interval`` s it
    repairs and delivers the chain's undelivered links older than ``min_age`` s. Any event
    is published within :attr:`bound` s of its write (plus the pass in progress) while its
    writer lives, within ``lease + interval`` s when it died (module docstring). A pass reads
    every link only when it must: its first, one every ``full_every`` s, and when a writer's
    lease has lapsed."""

    def __init__(
        self,
        chain: Chain,
        *,
        interval: float = 2.0,
        min_age: float = 5.0,
        name: str = "",
        full_every: float = 300.0,
    ) -> None:
        super().__init__(name or f"{chain.links.name}-sweeper", interval, self.once)
        self.chain = chain
        # Young links belong to the writer still delivering them inline.
        self.min_age = min_age
        self.full_every = full_every
        self.passes = 0
        self.full_passes = 0
        self.last_started: datetime | None = None
        self._last_full: float | None = None
        self._began: float | None = None

    @property
    def bound(self) -> float:
        return self.min_age + self.interval

    async def once(self) -> int:
        started = utcnow()
        began = time.monotonic()
        if self._began is None:
            self._began = began
        await self.chain.beat()
        lost = await self.chain.lost_writers()
        full = (
            bool(lost)
            # What was written before this sweeper began is covered only by a full pass
            # started once it is min_age old (its writer may have died).
            or self._last_full is None
            or self._last_full < self._began + self.min_age
            or began - self._last_full >= self.full_every
        )
        published = await self.chain.sweep(self.min_age, full=full)
        if full:
            await self.chain.bury(lost)
            self._last_full = began
            self.full_passes += 1
        self.passes += 1
        self.last_started = started
        return published


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
