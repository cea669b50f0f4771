"""A consumer-group worker: read, handle, ack; retry with back-off; dead-letter at the end.

Failed entries stay in the group's pending list (PEL), so a crash loses nothing: another
consumer claims them once they have been idle for ``visibility_timeout``. Entries that failed
in *this* process are retried sooner, after ``backoff(n)``. After ``max_attempts`` an entry
goes to ``dlq.<group>`` with its last error and is acked.

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
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import msgspec
from opentelemetry.trace import SpanKind, Status, StatusCode
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from deepiri_kit import metrics
from deepiri_kit.events.envelope import Envelope
from deepiri_kit.events.inbox import Inbox
from deepiri_kit.health import Check
from deepiri_kit.retry import backoff
from deepiri_kit.tracing import context_from, tracer, untraced
from deepiri_kit.workers import pause

log = logging.getLogger("deepiri.events")

Handler = Callable[[Envelope], Awaitable[None]]
# redis-py's stream replies (decode_responses=True), which its stubs type loosely.
Entries = list[tuple[str, dict[str, str] | None]]
StreamResponse = list[tuple[str, list[tuple[str, dict[str, str]]]]] | None

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


def default_consumer_name(group: str) -> str:
    # Unique per process: the pod's hostname plus pid (several uvicorn workers per pod).
    return f"{group}-{socket.gethostname()}-{os.getpid()}"


class Consumer:
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
        self.redis = redis
        self.group = group
        self.handlers = dict(handlers)
        self.inbox = inbox
        self.self_marking = frozenset(self_marking)
        self.wanted = {stream: frozenset(types) for stream, types in (wanted or {}).items()}
        self.name = name or default_consumer_name(group)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.visibility_timeout = visibility_timeout
        self.handler_timeout = handler_timeout
        self.block_ms = block_ms
        self.batch = batch
        self.dead_letters = dead_letter_stream(group)
        self._last_error: dict[str, str] = {}
        self._tracer = tracer("deepiri.events")
        self._lag_checked = 0.0
        self.unready_after = unready_after
        # The consumer's own account of whether it consumes (see checks()).
        self._progress_at = time.monotonic()  # last successful read or handled entry
        self._failing_since: float | None = None
        self._failure = ""

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
        for stream in self.handlers:
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
                    self._last_error.clear()  # those entries went with the group
                    await pause(stop, 0.05)
                else:
                    log.warning("event consumer %s: cannot read, retrying: %s", self.group, exc)
                    await pause(stop, 1.0)

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
        for stream, entries in response or []:
            for entry_id, fields in entries:
                await self._process(stream, entry_id, fields, deliveries=1)
                self._progressed()
                handled += 1
        await self._observe_lag()
        return handled

    async def retry_due(self) -> int:
        handled = 0
        for stream in self.handlers:
            with untraced():
                pending: list[dict[str, Any]] = await self.redis.xpending_range(
                    stream, self.group, min="-", max="+", count=100
                )
            for item in pending:
                entry_id = item["message_id"]
                deliveries = int(item["times_delivered"])
                idle = item["time_since_delivered"] / 1000
                mine = item["consumer"] == self.name and entry_id in self._last_error
                wait = self.backoff(deliveries) if mine else self.visibility_timeout
                if idle < wait:
                    continue
                if deliveries >= self.max_attempts:
                    await self._dead_letter(stream, entry_id, deliveries)
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
                    await self._process(stream, claimed_id, fields, deliveries=deliveries + 1)
                    self._progressed()
                    handled += 1
        return handled

    async def _process(
        self, stream: str, entry_id: str, fields: Mapping[str, Any], deliveries: int
    ) -> None:
        try:
            event = Envelope.decode(fields["envelope"])
        except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            # A malformed entry will never succeed: straight to the dead letters.
            self._last_error[entry_id] = f"undecodable envelope: {exc}"
            await self._dead_letter(stream, entry_id, deliveries, fields=fields)
            return
        wanted = self.wanted.get(stream)
        if wanted is not None and event.type not in wanted:
            await self.redis.xack(stream, self.group, entry_id)
            CONSUMED.labels(stream, self.group, "ignored").inc()
            return
        marks = stream not in self.self_marking
        if marks and await self.inbox.seen(self.group, event.id):
            await self.redis.xack(stream, self.group, entry_id)
            CONSUMED.labels(stream, self.group, "duplicate").inc()
            return
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
                    await self._dead_letter(stream, entry_id, deliveries, fields=fields)
                return
            finally:
                HANDLE_SECONDS.labels(stream, self.group).observe(time.perf_counter() - start)
        if marks:
            await self.inbox.mark(self.group, event.id)
        await self.redis.xack(stream, self.group, entry_id)
        self._last_error.pop(entry_id, None)
        CONSUMED.labels(stream, self.group, "handled").inc()

    async def _dead_letter(
        self,
        stream: str,
        entry_id: str,
        deliveries: int,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        if fields is None:
            found: Entries = await self.redis.xrange(stream, min=entry_id, max=entry_id)  # type: ignore[assignment]
            fields = (found[0][1] if found else None) or {}
        await self.redis.xadd(
            self.dead_letters,
            {
                "envelope": fields.get("envelope", ""),
                "stream": stream,
                "entry_id": entry_id,
                "group": self.group,
                "attempts": deliveries,
                "error": self._last_error.pop(entry_id, "unknown (failed in another process)"),
            },
        )
        await self.redis.xack(stream, self.group, entry_id)
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
        for stream in self.handlers:
            with untraced():
                groups = await self.redis.xinfo_groups(stream)
            for group in groups:
                if group["name"] == self.group:
                    LAG.labels(stream, self.group).set(group.get("lag") or 0)
                    PENDING.labels(stream, self.group).set(group.get("pending") or 0)
