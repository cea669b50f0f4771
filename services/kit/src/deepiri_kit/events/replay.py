"""Repairing the bus when Redis loses events: producers replay them from their own records.

Redis is the bus, not a database. With its append-only file fsynced every second a killed
Redis loses nothing and a lost host about a second; a Redis restarted *without* its data
loses every event not yet consumed, and the consumer groups with them. Consumers recreate
their groups (:mod:`.consumer`); the events come back from the producers:

* **The journal.** A producer keeps every event it publishes in its own database, in the
  document of the change that caused it (``_events``, written in the same insert as the
  outbox and never cleared — but by an account's erasure, which leaves only what consumers
  need to erase too: user-service keeps ``user.deleted``). A replay re-publishes the stored bytes under the same event id,
  so consumers — idempotent by event id and by their own business keys (gamification pays a
  completion once by its key) — handle an event at most once however often it is replayed.
* **The guard** (:class:`BusGuard`, run as a :class:`~deepiri_kit.workers.Periodic` worker)
  notes how far every consumer group of the producer's streams has consumed (the
  *watermark*: everything up to it delivered and acknowledged) and which Redis it saw (its
  ``run_id`` and an epoch key). The note lives in the producer's database, so it outlives
  Redis. When the Redis is a different one — restarted, failed over, flushed — whatever was
  not confirmed may be gone, and the guard replays the journal from the watermark, less
  ``margin`` (clock skew between hosts, the delay between a write and its publish). A restart
  that kept its data costs a replay of that unconfirmed tail, nothing more.
* **On demand**, :meth:`BusGuard.replay` re-publishes everything since a given time (each
  producer's CLI: ``python -m task_service replay --since 2026-05-01T10:00Z``).

Replayed events arrive after newer ones: consumers must not assume order (they already may
not, with retries and several consumers per group).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from deepiri_kit import metrics
from deepiri_kit.clock import utcnow
from deepiri_kit.events.bus import EventBus
from deepiri_kit.events.outbox import entry_origin
from deepiri_kit.tracing import untraced
from deepiri_kit.workers import Periodic

if TYPE_CHECKING:  # only producers with MongoDB keep a journal; others never import pymongo
    from pymongo.asynchronous.collection import AsyncCollection

__all__ = ["EPOCH_KEY", "JOURNAL", "BusGuard", "Journal", "journalled", "position"]

log = logging.getLogger("deepiri.events")

Document = dict[str, Any]

JOURNAL = "_events"
# Set once per Redis data set: a Redis that comes back without it lost its data.
EPOCH_KEY = "bus:epoch"

REPLAYED = metrics.counter(
    "deepiri_events_replayed_total",
    "Events re-published from a producer's journal, by stream and why.",
    ("stream", "reason"),
)
REDIS_CHANGES = metrics.counter(
    "deepiri_bus_redis_changes_total",
    "Times a producer found a different Redis (restart, failover or lost data) behind its bus.",
)


@dataclass(frozen=True)
class Journal:
    """Where a producer's published events are kept: ``collection``'s documents carry them in
    ``_events`` (outbox entries: ``id``, ``stream``, ``type``, ``payload``), stamped with
    ``time_field``."""

    collection: AsyncCollection[Document]
    time_field: str = "at"


def journalled(entries: Sequence[Document]) -> Document:
    """The fields that keep ``entries`` (outbox entries) in the change's document for good."""
    return {JOURNAL: [dict(entry) for entry in entries]} if entries else {}


def position(entry_id: str) -> datetime:
    """The time in a stream entry id (``<unix ms>-<seq>``)."""
    return datetime.fromtimestamp(int(entry_id.split("-", 1)[0]) / 1000, tz=UTC)


class BusGuard:
    """Confirms consumption of a producer's streams and replays what a lost Redis dropped."""

    name = "bus-guard"

    def __init__(
        self,
        redis: Redis,
        bus: EventBus,
        checkpoints: AsyncCollection[Document],
        journals: Sequence[Journal],
        streams: Sequence[str],
        *,
        margin: float = 120.0,
        max_lookback: timedelta = timedelta(days=7),
    ) -> None:
        self.redis = redis
        self.bus = bus
        self.checkpoints = checkpoints
        self.journals = list(journals)
        self.streams = list(streams)
        self.margin = timedelta(seconds=margin)
        self.max_lookback = max_lookback

    def worker(self, interval: float) -> Periodic:
        return Periodic(self.name, interval, self.check)

    async def replay(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        streams: Sequence[str] | None = None,
        reason: str = "on_demand",
    ) -> int:
        """Re-publish every journalled event of ``streams`` written in [since, until]."""
        wanted = set(streams or self.streams)
        published = 0
        for journal in self.journals:
            window: Document = {"$gte": since}
            if until is not None:
                window["$lte"] = until
            with untraced():
                cursor = journal.collection.find(
                    {journal.time_field: window, JOURNAL: {"$exists": True}}, {JOURNAL: 1}
                ).sort([(journal.time_field, 1), ("_id", 1)])
                async for doc in cursor:
                    for entry in doc.get(JOURNAL) or []:
                        if entry["stream"] in wanted:
                            await self.bus.publish_raw(
                                entry["stream"],
                                entry["payload"],
                                entry["type"],
                                entry_origin(entry),
                                entry.get("id"),
                            )
                            REPLAYED.labels(entry["stream"], reason).inc()
                            published += 1
        return published

    async def identity(self) -> str:
        """Which Redis data set this is: the server's run id and the data set's epoch."""
        with untraced():
            await self.redis.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
            epoch = await self.redis.get(EPOCH_KEY)
            info = await self.redis.info("server")
        return f"{info.get('run_id', '?')}/{epoch!s}"

    async def watermark(self, stream: str) -> datetime | None:
        """Up to when every consumer group of ``stream`` has consumed (delivered and acked
        everything); None when the stream or its groups do not exist."""
        try:
            with untraced():
                groups = await self.redis.xinfo_groups(stream)
                marks = []
                for group in groups:
                    oldest = None
                    if group.get("pending"):
                        oldest = (await self.redis.xpending(stream, group["name"])).get("min")
                    if oldest:  # everything before the oldest unacknowledged entry
                        marks.append(position(oldest) - timedelta(milliseconds=1))
                    else:
                        marks.append(position(group["last-delivered-id"]))
        except ResponseError:  # no such stream
            return None
        return min(marks) if marks else None

    async def check(self) -> int:
        """One pass: replay if the Redis changed, else advance the watermarks. Returns how
        many events were replayed."""
        identity = await self.identity()
        replayed = 0
        for stream in self.streams:
            note = await self.checkpoints.find_one({"_id": stream})
            now = utcnow()
            if note is None:
                # First sight of this stream: nothing is known to be missing yet.
                from pymongo.errors import DuplicateKeyError

                with contextlib.suppress(DuplicateKeyError):  # another replica was first
                    await self.checkpoints.insert_one(
                        {"_id": stream, "redis": identity, "confirmed": now, "checked_at": now}
                    )
                continue
            confirmed = _aware(note["confirmed"])
            if note["redis"] != identity:
                REDIS_CHANGES.inc()
                since = max(confirmed - self.margin, now - self.max_lookback)
                n = await self.replay(since, streams=[stream], reason="redis_changed")
                replayed += n
                log.warning(
                    "a different Redis is behind %s (restarted, failed over or emptied): "
                    "replayed %d event(s) since %s",
                    stream,
                    n,
                    since.isoformat(),
                    extra={"stream": stream, "redis_before": note["redis"], "redis": identity},
                )
                await self.checkpoints.update_one(
                    {"_id": stream}, {"$set": {"redis": identity, "checked_at": now}}
                )
                continue
            mark = await self.watermark(stream)
            # Only a watermark read from the same Redis counts: a swap in between would make
            # the new, empty server's positions look like confirmation.
            if mark is not None and mark > confirmed and await self.identity() == identity:
                await self.checkpoints.update_one(
                    {"_id": stream}, {"$set": {"confirmed": mark, "checked_at": now}}
                )
        return replayed


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
