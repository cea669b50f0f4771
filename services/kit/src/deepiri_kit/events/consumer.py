"""A consumer-group worker: read, handle, ack; retry with back-off; dead-letter at the end.

Two modes over the same group machinery (groups, reconnects, claims, dead letters, readiness,
spans and metrics):

* :class:`Consumer`, one event at a time. Failed entries stay in the group's pending list
  (PEL), so a crash loses nothing: another consumer claims them once they have been idle for
  ``visibility_timeout``. Entries that failed in *this* process are retried sooner, after
  ``backoff(n)``. After ``max_attempts`` an entry goes to ``dlq.<group>`` with its last error
  and is acked.
* :class:`BatchConsumer`, a batch at a time, for a sink that writes many events in one
  request (InfluxDB). A failed batch is the sink's fault, not its events': nothing is acked
  and nothing dead-lettered — the batch stays pending and is handed over again, with
  back-off, until it is taken; after a crash another consumer claims it once idle for
  ``visibility_timeout``. Only an entry that can never succeed (undecodable, or rejected by
  the handler) is dead-lettered, once its batch has been handled.

A Redis that lost its data (restarted without it, flushed, failed over to an empty replica)
comes back without the streams' consumer groups: every read answers ``NOGROUP``. The consumer
then recreates its groups (and streams) and carries on; what the lost streams held is
re-published by the producers (:mod:`deepiri_kit.events.replay`). A consumer that still cannot
consume says so in readiness (:meth:`Consumer.checks`), so it never looks healthy while idle.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, get_current_span
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from deepiri_kit import metrics
from deepiri_kit.events.envelope import Envelope
from deepiri_kit.events.inbox import Inbox, RedisInbox
from deepiri_kit.health import Check
from deepiri_kit.retry import backoff
from deepiri_kit.tracing import context_from, tracer, untraced
from deepiri_kit.workers import pause

log = logging.getLogger("deepiri.events")

Handler = Callable[[Envelope], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event of a batch, and where it was read."""

    stream: str
    entry_id: str
    event: Envelope


# A batch handler stores the batch (idempotently per event id: a batch may be handed over
# again) or raises; it returns the deliveries that can never succeed, with why.
Rejections = Sequence[tuple[Delivery, str]]
BatchHandler = Callable[[Sequence[Delivery]], Awaitable[Rejections]]

# redis-py's stream replies (decode_responses=True), which its stubs type loosely.
Entries = list[tuple[str, dict[str, str] | None]]
StreamResponse = list[tuple[str, list[tuple[str, dict[str, str]]]]] | None
# Re-reading pending entries ("0") also answers those trimmed meanwhile, without fields.
PendingResponse = list[tuple[str, Entries]] | None

CONSUMED = metrics.counter(
    "deepiri_events_consumed_total",
    "Events taken from a stream, by outcome (handled, duplicate, ignored, failed, dead_lettered).",
    ("stream", "group", "outcome"),
)
HANDLE_SECONDS = metrics.histogram(
    "deepiri_event_handle_seconds", "Time spent in an event handler.", ("stream", "group")
)
LAG = metrics.gauge(
    "deepiri_events_lag",
    "Entries in a stream not yet delivered to the group (Redis XINFO GROUPS lag).",
    ("stream", "group"),
    multiprocess_mode="livemax",
)
PENDING = metrics.gauge(
    "deepiri_events_pending",
    "Entries delivered to the group but not yet acknowledged.",
    ("stream", "group"),
    multiprocess_mode="livemax",
)


def dead_letter_stream(group: str) -> str:
    return f"dlq.{group}"


def lost_group(exc: ResponseError) -> bool:
    """Redis answered that the stream or its group is gone (deleted, or Redis lost its data;
    a read blocked on a deleted stream is ended with UNBLOCKED)."""
    return str(exc).startswith(("NOGROUP", "UNBLOCKED"))


async def replies(pipe: Pipeline) -> list[Any]:
    """A pipeline's replies, its first error raised as the command alone raises it (redis-py
    would prefix the message with the command, hiding a ``NOGROUP`` from :func:`lost_group`)."""
    answers: list[Any] = await pipe.execute(raise_on_error=False)
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers


def default_consumer_name(group: str) -> str:
    # Unique per process: the pod's hostname plus pid (several uvicorn workers per pod).
    return f"{group}-{socket.gethostname()}-{os.getpid()}"


class _GroupWorker:
    """What both modes share: the group's streams, reads that survive a lost Redis or group,
    readiness, dead letters and lag metrics. A mode supplies :meth:`poll_once`."""

    def __init__(
        self,
        redis: Redis,
        *,
        group: str,
        streams: Sequence[str],
        name: str | None,
        backoff_base: float,
        backoff_max: float,
        visibility_timeout: float,
        handler_timeout: float,
        block_ms: int,
        batch: int,
        unready_after: float,
    ) -> None:
        self.redis = redis
        self.group = group
        self.streams = list(streams)
        self.name = name or default_consumer_name(group)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.visibility_timeout = visibility_timeout
        self.handler_timeout = handler_timeout
        self.block_ms = block_ms
        self.batch = batch
        self.dead_letters = dead_letter_stream(group)
        self._tracer = tracer("deepiri.events")
        self._lag_checked = 0.0
        self.unready_after = unready_after
        # The consumer's own account of whether it consumes (see checks()).
        self._progress_at = time.monotonic()  # last successful read or handled entry
        self._failing_since: float | None = None
        self._failure = ""
        # How often entries other consumers left are looked for: as often as an idle
        # consumer polls (so no later than before), not once per event of a busy one.
        self.scan_every = min(block_ms / 1000, visibility_timeout / 4)
        self._scanned_at: float | None = None

    def _scan_due(self) -> bool:
        now = time.monotonic()
        if self._scanned_at is not None and now - self._scanned_at < self.scan_every:
            return False
        self._scanned_at = now
        return True

    def checks(self) -> list[Check]:
        """Readiness: fails while reads keep failing (an error loop) or none completes."""

        async def probe() -> None:
            now = time.monotonic()
            if self._failing_since is not None and now - self._failing_since >= self.unready_after:
                raise RuntimeError(
                    f"cannot consume for {now - self._failing_since:.0f}s: {self._failure}"
                )
            stuck_after = self.block_ms / 1000 + self.handler_timeout + self.unready_after
            if now - self._progress_at > stuck_after:
                raise RuntimeError(f"no read completed for {now - self._progress_at:.0f}s")

        return [Check(f"consumer:{self.group}", probe)]

    def _progressed(self) -> None:
        self._progress_at = time.monotonic()
        self._failing_since = None

    def _failed(self, exc: Exception) -> None:
        self._failure = f"{type(exc).__name__}: {exc}"[:300]
        if self._failing_since is None:
            self._failing_since = time.monotonic()

    def backoff(self, deliveries: int) -> float:
        return backoff(deliveries, first=self.backoff_base, limit=self.backoff_max)

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                # From the start of the stream: events published before this group existed
                # are handled too.
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self, stop: asyncio.Event) -> None:
        ready = False
        while not stop.is_set():
            try:
                if not ready:
                    with untraced():
                        await self.ensure_groups()
                    ready = True
                await self.poll_once()
            except (RedisError, OSError) as exc:
                self._failed(exc)
                # Whatever failed, the server may now be a new, empty one: make sure of the
                # groups before the next read (cheap: BUSYGROUP when they exist).
                ready = False
                if isinstance(exc, ResponseError) and lost_group(exc):
                    log.warning("event consumer %s: group gone, recreating it: %s", self.group, exc)
                    self._group_lost()
                    await pause(stop, 0.05)
                else:
                    log.warning("event consumer %s: cannot read, retrying: %s", self.group, exc)
                    await pause(stop, 1.0)
                continue
            await pause(stop, self._rest())

    async def poll_once(self, block_ms: int | None = None) -> int:
        raise NotImplementedError

    def _group_lost(self) -> None:
        """Forget what this process knew of the group's entries: they went with it."""

    def _rest(self) -> float:
        """How long to wait before the next poll (a mode's back-off)."""
        return 0.0

    async def _dead_letter(
        self,
        stream: str,
        entry_id: str,
        deliveries: int,
        error: str,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        if fields is None:
            found: Entries = await self.redis.xrange(stream, min=entry_id, max=entry_id)  # type: ignore[assignment]
            fields = (found[0][1] if found else None) or {}
        # One MULTI: the dead letter is written once and the entry acked with it.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.dead_letters,
                {
                    "envelope": fields.get("envelope", ""),
                    "stream": stream,
                    "entry_id": entry_id,
                    "group": self.group,
                    "attempts": deliveries,
                    "error": error,
                },
            )
            pipe.xack(stream, self.group, entry_id)
            await replies(pipe)
        CONSUMED.labels(stream, self.group, "dead_lettered").inc()
        log.error(
            "event dead-lettered after %d attempt(s)",
            deliveries,
            extra={"stream": stream, "entry_id": entry_id, "dead_letter_stream": self.dead_letters},
        )

    async def _observe_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_checked < 5:
            return
        self._lag_checked = now
        for stream in self.streams:
            with untraced():
                groups = await self.redis.xinfo_groups(stream)
            for group in groups:
                if group["name"] == self.group:
                    LAG.labels(stream, self.group).set(group.get("lag") or 0)
                    PENDING.labels(stream, self.group).set(group.get("pending") or 0)


class Consumer(_GroupWorker):
    """One event at a time, through the handler of its stream."""

    def __init__(
        self,
        redis: Redis,
        *,
        group: str,
        handlers: Mapping[str, Handler],
        inbox: Inbox,
        name: str | None = None,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        visibility_timeout: float = 30.0,
        handler_timeout: float = 25.0,
        block_ms: int = 1000,
        batch: int = 32,
        unready_after: float = 5.0,
        self_marking: Collection[str] = (),
        wanted: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        """``handlers`` maps a stream name to the coroutine that handles its events.
        ``wanted`` (optional) names the event types a stream's handler acts on: any other
        type of that stream is acknowledged at once, without the inbox (nothing to dedupe).

        Readiness fails once reads have kept failing for ``unready_after`` seconds, or no
        read has finished for longer than a read and a handler may take (stuck).

        ``self_marking``: streams whose handlers are idempotent on the event id by their own
        write (a document whose ``_id`` derives from it, or nothing written at all): their
        events skip the inbox, a lookup and an insert per event (on FerretDB the lookup scans
        every event the group ever marked)."""
        super().__init__(
            redis,
            group=group,
            streams=list(handlers),
            name=name,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            visibility_timeout=visibility_timeout,
            handler_timeout=handler_timeout,
            block_ms=block_ms,
            batch=batch,
            unready_after=unready_after,
        )
        self.handlers = dict(handlers)
        self.inbox = inbox
        self.self_marking = frozenset(self_marking)
        self.wanted = {stream: frozenset(types) for stream, types in (wanted or {}).items()}
        self.max_attempts = max_attempts
        self._last_error: dict[str, str] = {}
        self._inbox_in_bus = (
            inbox if isinstance(inbox, RedisInbox) and inbox.redis is redis else None
        )

    def _group_lost(self) -> None:
        self._last_error.clear()

    async def poll_once(self, block_ms: int | None = None) -> int:
        """Retry what is due, then read new entries. Returns how many entries were handled."""
        handled = await self.retry_due()
        with untraced():
            response: StreamResponse = await self.redis.xreadgroup(  # type: ignore[assignment]
                self.group,
                self.name,
                dict.fromkeys(self.handlers, ">"),
                count=self.batch,
                block=self.block_ms if block_ms is None else block_ms,
            )
        self._progressed()
        read = [(s, i, f) for s, entries in response or [] for i, f in entries]
        handled += await self._process(read, deliveries=1)
        await self._observe_lag()
        return handled

    async def retry_due(self) -> int:
        """Claim and handle the pending entries that are due: this process's own failures
        once their back-off has passed (looked for on every poll while there are any), and
        entries other consumers left idle for ``visibility_timeout`` (looked for every
        ``scan_every`` s)."""
        if not self._last_error and not self._scan_due():
            return 0
        with untraced():
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream in self.handlers:
                    pipe.xpending_range(stream, self.group, min="-", max="+", count=100)
                pendings: list[list[dict[str, Any]]] = await replies(pipe)
        handled = 0
        for stream, pending in zip(self.handlers, pendings, strict=True):
            for item in pending:
                entry_id = item["message_id"]
                deliveries = int(item["times_delivered"])
                idle = item["time_since_delivered"] / 1000
                mine = item["consumer"] == self.name and entry_id in self._last_error
                wait = self.backoff(deliveries) if mine else self.visibility_timeout
                if idle < wait:
                    continue
                if deliveries >= self.max_attempts:
                    await self._dead_letter(stream, entry_id, deliveries, self._error_of(entry_id))
                    continue
                claimed: Entries = await self.redis.xclaim(  # type: ignore[assignment]
                    stream,
                    self.group,
                    self.name,
                    min_idle_time=int(wait * 1000),
                    message_ids=[entry_id],
                )
                for claimed_id, fields in claimed:
                    if fields is None:  # trimmed from the stream while pending
                        await self.redis.xack(stream, self.group, claimed_id)
                        continue
                    handled += await self._process(
                        [(stream, claimed_id, fields)], deliveries=deliveries + 1
                    )
        return handled

    async def _process(
        self, read: Sequence[tuple[str, str, Mapping[str, Any]]], deliveries: int
    ) -> int:
        """Handle ``read`` in order; returns how many entries it took. The inbox is asked
        once for all of them; the entries not handled (types not wanted, duplicates) are
        acknowledged together at the end."""
        events: list[tuple[str, str, Mapping[str, Any], Envelope]] = []
        for stream, entry_id, fields in read:
            try:
                events.append((stream, entry_id, fields, Envelope.decode(fields["envelope"])))
            except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                # A malformed entry will never succeed: straight to the dead letters.
                error = f"undecodable envelope: {exc}"
                await self._dead_letter(stream, entry_id, deliveries, error, fields=fields)
                self._progressed()
        asked = [e.id for stream, _, _, e in events if self._marks(stream, e)]
        seen = await self.inbox.seen(self.group, asked) if asked else set()
        skipped: dict[str, list[str]] = {}
        for stream, entry_id, fields, event in events:
            wanted = self.wanted.get(stream)
            if wanted is not None and event.type not in wanted:
                skipped.setdefault(stream, []).append(entry_id)
                CONSUMED.labels(stream, self.group, "ignored").inc()
            elif event.id in seen and self._marks(stream, event):
                skipped.setdefault(stream, []).append(entry_id)
                CONSUMED.labels(stream, self.group, "duplicate").inc()
            elif await self._handle(stream, entry_id, fields, event, deliveries):
                seen.add(event.id)  # a second copy in this read is a duplicate
            self._progressed()
        if skipped:
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream, entry_ids in skipped.items():
                    pipe.xack(stream, self.group, *entry_ids)
                await replies(pipe)
        return len(read)

    def _marks(self, stream: str, event: Envelope) -> bool:
        """Whether the event goes through the inbox (a type the stream wants, a stream that
        is not self-marking)."""
        wanted = self.wanted.get(stream)
        return stream not in self.self_marking and (wanted is None or event.type in wanted)

    async def _handle(
        self,
        stream: str,
        entry_id: str,
        fields: Mapping[str, Any],
        event: Envelope,
        deliveries: int,
    ) -> bool:
        """The handler, then the mark and the ack; False if it failed (left pending)."""
        parent = context_from({"traceparent": event.traceparent, "tracestate": event.tracestate})
        with self._tracer.start_as_current_span(
            f"{stream} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "redis",
                "messaging.destination.name": stream,
                "messaging.consumer.group.name": self.group,
                "messaging.message.id": event.id,
                "messaging.operation.type": "process",
                "deepiri.event.type": event.type,
                "deepiri.event.delivery": deliveries,
            },
        ) as span:
            start = time.perf_counter()
            try:
                async with asyncio.timeout(self.handler_timeout):
                    await self.handlers[stream](event)
            except Exception as exc:
                self._last_error[entry_id] = f"{type(exc).__name__}: {exc}"[:500]
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                CONSUMED.labels(stream, self.group, "failed").inc()
                log.warning(
                    "handler failed for %s (attempt %d/%d): %s",
                    event.type,
                    deliveries,
                    self.max_attempts,
                    exc,
                    extra={"event_id": event.id, "stream": stream},
                )
                if deliveries >= self.max_attempts:
                    error = self._error_of(entry_id)
                    await self._dead_letter(stream, entry_id, deliveries, error, fields=fields)
                return False
            finally:
                HANDLE_SECONDS.labels(stream, self.group).observe(time.perf_counter() - start)
        await self._done(stream, entry_id, event.id if self._marks(stream, event) else None)
        self._last_error.pop(entry_id, None)
        CONSUMED.labels(stream, self.group, "handled").inc()
        return True

    async def _done(self, stream: str, entry_id: str, mark: str | None) -> None:
        """After the handler's write: mark the event handled (``mark``: its id), then
        acknowledge the entry. With the inbox in the bus's Redis both are one MULTI: one
        round trip, and never an ack without its mark."""
        if mark is not None and self._inbox_in_bus is not None:
            async with self.redis.pipeline(transaction=True) as pipe:
                self._inbox_in_bus.marking(pipe, self.group, mark)
                pipe.xack(stream, self.group, entry_id)
                await replies(pipe)
            return
        if mark is not None:
            await self.inbox.mark(self.group, mark)
        await self.redis.xack(stream, self.group, entry_id)

    def _error_of(self, entry_id: str) -> str:
        return self._last_error.pop(entry_id, "unknown (failed in another process)")


class BatchConsumer(_GroupWorker):
    """A batch at a time, across all ``streams``, through one handler; acked together.

    Each poll takes, in this order, this consumer's own pending entries (a batch whose
    handler failed, once its back-off has passed; read only while it may have some),
    entries another consumer left idle for ``visibility_timeout`` (it crashed; looked for
    every ``scan_every`` s), then new ones. An event id seen twice in a batch is
    handed over once. The handler must be idempotent per event id: a batch it stored may be
    handed over again after a crash before the ack."""

    def __init__(
        self,
        redis: Redis,
        *,
        group: str,
        streams: Sequence[str],
        handler: BatchHandler,
        name: str | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        visibility_timeout: float = 30.0,
        handler_timeout: float = 25.0,
        block_ms: int = 1000,
        batch: int = 500,
        unready_after: float = 5.0,
    ) -> None:
        super().__init__(
            redis,
            group=group,
            streams=streams,
            name=name,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            visibility_timeout=visibility_timeout,
            handler_timeout=handler_timeout,
            block_ms=block_ms,
            batch=batch,
            unready_after=unready_after,
        )
        self.handler = handler
        self.failures = 0  # consecutive failed batches (the back-off's exponent)
        # Whether this consumer may have entries of its own pending (unknown at the start;
        # none once a read of them came back empty or its batch was acked).
        self._own_pending = True

    def _rest(self) -> float:
        return self.backoff(self.failures) if self.failures else 0.0

    async def poll_once(self, block_ms: int | None = None) -> int:
        """Hand one batch over and ack it; returns how many entries were acked (0 while the
        handler fails: the batch stays pending for the next poll)."""
        with untraced():
            entries = await self._read("0", block=None) if self._own_pending else []
            self._own_pending = bool(entries)
            if not entries and self._scan_due():
                entries = await self._claim_idle()
            if not entries:
                block = self.block_ms if block_ms is None else block_ms
                entries = await self._read(">", block=block)
        self._progressed()
        if entries:
            return await self._handle(entries)
        await self._observe_lag()
        return 0

    async def _handle(self, entries: list[tuple[str, str, dict[str, str] | None]]) -> int:
        self._own_pending = True  # until acked
        batch: list[Delivery] = []
        fields_of: dict[tuple[str, str], dict[str, str]] = {}
        hopeless: list[tuple[str, str, str]] = []  # (stream, entry id, why)
        ids: set[str] = set()
        for stream, entry_id, fields in entries:
            if not fields:  # trimmed from the stream while pending
                continue
            fields_of[stream, entry_id] = fields
            try:
                event = Envelope.decode(fields["envelope"])
            except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                hopeless.append((stream, entry_id, f"undecodable envelope: {exc}"))
                continue
            if event.id in ids:
                CONSUMED.labels(stream, self.group, "duplicate").inc()
                continue
            ids.add(event.id)
            batch.append(Delivery(stream, entry_id, event))
        if batch:
            try:
                rejected = await self._hand_over(batch)
            except Exception as exc:
                self.failures += 1
                self._progressed()  # consuming, not stuck: the sink said no (readiness)
                for stream, n in Counter(d.stream for d in batch).items():
                    CONSUMED.labels(stream, self.group, "failed").inc(n)
                log.warning(
                    "batch handler failed for %d event(s) (retry in %.1fs): %s",
                    len(batch),
                    self._rest(),
                    exc,
                    extra={"group": self.group},
                )
                return 0
            hopeless += [(d.stream, d.entry_id, why[:500]) for d, why in rejected]
            refused = {(d.stream, d.entry_id) for d, _ in rejected}
            handled = [d.stream for d in batch if (d.stream, d.entry_id) not in refused]
            for stream, n in Counter(handled).items():
                CONSUMED.labels(stream, self.group, "handled").inc(n)
        # Only once the batch is handled, so a batch handed over again dead-letters nothing
        # twice.
        for stream, entry_id, why in hopeless:
            attempts = self.failures + 1
            await self._dead_letter(stream, entry_id, attempts, why, fields_of[stream, entry_id])
        done: dict[str, list[str]] = {}
        for stream, entry_id, _ in entries:
            done.setdefault(stream, []).append(entry_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, acked in done.items():
                pipe.xack(stream, self.group, *acked)
            await replies(pipe)
        self._own_pending = False
        self.failures = 0
        self._progressed()
        await self._observe_lag()
        return len(entries)

    async def _hand_over(self, batch: list[Delivery]) -> Rejections:
        """The handler, in one consumer span linked to every event's producer span (OTel's
        batch messaging), within ``handler_timeout``."""
        links = []
        for delivery in batch:
            origin = context_from(
                {"traceparent": delivery.event.traceparent, "tracestate": delivery.event.tracestate}
            )
            span_context = get_current_span(origin).get_span_context()
            if span_context.is_valid:
                links.append(Link(span_context))
        streams = sorted({d.stream for d in batch})
        with self._tracer.start_as_current_span(
            f"{self.group} process",
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "redis",
                "messaging.destination.name": ",".join(streams),
                "messaging.consumer.group.name": self.group,
                "messaging.operation.type": "process",
                "messaging.batch.message_count": len(batch),
                "deepiri.event.delivery": self.failures + 1,
            },
        ) as span:
            start = time.perf_counter()
            try:
                async with asyncio.timeout(self.handler_timeout):
                    return await self.handler(batch)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                took = time.perf_counter() - start
                for stream in streams:
                    HANDLE_SECONDS.labels(stream, self.group).observe(took)

    async def _read(
        self, start: str, block: int | None
    ) -> list[tuple[str, str, dict[str, str] | None]]:
        response: PendingResponse = await self.redis.xreadgroup(  # type: ignore[assignment]
            self.group, self.name, dict.fromkeys(self.streams, start), count=self.batch, block=block
        )
        return [(stream, i, f) for stream, entries in response or [] for i, f in entries]

    async def _claim_idle(self) -> list[tuple[str, str, dict[str, str] | None]]:
        claimed: list[tuple[str, str, dict[str, str] | None]] = []
        for stream in self.streams:
            reply = await self.redis.xautoclaim(
                stream,
                self.group,
                self.name,
                min_idle_time=int(self.visibility_timeout * 1000),
                count=self.batch,
            )
            entries: Entries = reply[1]
            claimed += [(stream, i, f) for i, f in entries]
        return claimed
