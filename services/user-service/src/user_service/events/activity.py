"""The activity recorder: every event on the activity streams (``events.tasks``,
``events.gamification``, ``events.skills``, ``events.social``), decoded with its kit
contract and handed to the sink (``service/activity.py``) a batch at a time, in a consumer
group of its own (``user-service-activity``), so the skill-XP consumer never waits for it.

Unlike the kit's per-event :class:`~deepiri_kit.events.Consumer`, a failed write is not the
event's fault: while the sink fails (InfluxDB down) nothing is acked and nothing goes to the
dead letters — the batch stays in the group's pending list and is written again, with
back-off, until it succeeds; after a crash another process claims it once it has been idle
for ``visibility_timeout``. The sink's writes are idempotent per event id, so writing a batch
again (or an event delivered twice) changes nothing. Only an event that breaks its contract
is dead-lettered (``dlq.user-service-activity``): it could never succeed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from typing import Final, Protocol

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from deepiri_kit import backoff, metrics, pause
from deepiri_kit.contracts import ContractError, Event, Stream, gamification, skills, social, tasks
from deepiri_kit.events import Envelope

log = logging.getLogger("user_service.activity")

GROUP: Final = "user-service-activity"
STREAMS: Final = (tasks.STREAM, gamification.STREAM, skills.STREAM, social.STREAM)

RECORDED = metrics.counter(
    "deepiri_activity_events_total",
    "Events the activity recorder took from the bus, by outcome (written, dead_lettered).",
    ("outcome",),
)
WRITE_FAILURES = metrics.counter(
    "deepiri_activity_write_failures_total",
    "Batches the activity store did not take (retried until it does).",
)

# redis-py's stream replies (decode_responses=True), which its stubs type loosely.
Entries = list[tuple[str, dict[str, str] | None]]
StreamResponse = list[tuple[str, list[tuple[str, dict[str, str] | None]]]] | None


class Sink(Protocol):
    async def record(self, events: Sequence[tuple[Envelope, Event]]) -> object:
        """Store the batch (idempotently per event id); raise if it was not stored."""


class ActivityRecorder:
    name = "activity-recorder"

    def __init__(
        self,
        redis: Redis,
        sink: Sink,
        *,
        group: str = GROUP,
        streams: Sequence[Stream] = STREAMS,
        batch: int = 500,
        block_ms: int = 1000,
        visibility_timeout: float = 30.0,
        backoff_max: float = 10.0,
    ) -> None:
        self.redis = redis
        self.sink = sink
        self.group = group
        self.streams = {s.name: s for s in streams}
        self.consumer = f"{group}-{socket.gethostname()}-{os.getpid()}"
        self.batch = batch
        self.block_ms = block_ms
        self.visibility_timeout = visibility_timeout
        self.backoff_max = backoff_max
        self.dead_letters = f"dlq.{group}"
        self.failures = 0  # consecutive failed writes (the back-off's exponent)

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                # From the stream's start: what was published before the group existed counts.
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self, stop: asyncio.Event) -> None:
        ready = False
        while not stop.is_set():
            try:
                if not ready:
                    await self.ensure_groups()
                    ready = True
                await self.step()
            except RedisError as exc:
                ready = False  # Redis may have come back empty: recreate the groups
                log.warning("activity recorder cannot read the bus, retrying: %s", exc)
                await pause(stop, 1.0)
            except Exception as exc:
                self.failures += 1
                WRITE_FAILURES.inc()
                wait = backoff(self.failures, first=0.5, limit=self.backoff_max)
                log.warning("activity not written (retry in %.1fs): %s", wait, exc)
                await pause(stop, wait)

    async def step(self, block_ms: int | None = None) -> int:
        """Write one batch: this consumer's pending entries first (a failed write's batch),
        then entries another consumer left idle, then new ones. Returns how many were acked."""
        entries = await self._read("0", block=None)
        if not entries:
            entries = await self._claim_idle()
        if not entries:
            entries = await self._read(">", block=self.block_ms if block_ms is None else block_ms)
        if not entries:
            return 0
        events: list[tuple[Envelope, Event]] = []
        broken: list[tuple[str, str, dict[str, str], str]] = []
        done: dict[str, list[str]] = {}
        for stream, entry_id, fields in entries:
            done.setdefault(stream, []).append(entry_id)
            if not fields:  # trimmed from the stream while pending
                continue
            try:
                decoded = self._decode(stream, fields)
            except (KeyError, msgspec.DecodeError, msgspec.ValidationError, ContractError) as exc:
                broken.append((stream, entry_id, fields, f"{type(exc).__name__}: {exc}"[:500]))
                continue
            if decoded is not None:
                events.append(decoded)
        if events:
            await self.sink.record(events)  # raises while the store is away: nothing acked
        # Only once the batch is stored, so a batch written again dead-letters nothing twice.
        for stream, entry_id, fields, error in broken:
            await self._dead_letter(stream, entry_id, fields, error)
        for stream, ids in done.items():
            await self.redis.xack(stream, self.group, *ids)
        self.failures = 0
        RECORDED.labels("written").inc(len(events))
        return len(entries)

    async def _read(
        self, start: str, block: int | None
    ) -> list[tuple[str, str, dict[str, str] | None]]:
        response: StreamResponse = await self.redis.xreadgroup(  # type: ignore[assignment]
            self.group,
            self.consumer,
            dict.fromkeys(self.streams, start),
            count=self.batch,
            block=block,
        )
        return [(stream, i, f) for stream, entries in response or [] for i, f in entries]

    async def _claim_idle(self) -> list[tuple[str, str, dict[str, str] | None]]:
        claimed: list[tuple[str, str, dict[str, str] | None]] = []
        for stream in self.streams:
            reply = await self.redis.xautoclaim(
                stream,
                self.group,
                self.consumer,
                min_idle_time=int(self.visibility_timeout * 1000),
                count=self.batch,
            )
            entries: Entries = reply[1]
            claimed += [(stream, i, f) for i, f in entries]
        return claimed

    def _decode(self, stream: str, fields: dict[str, str]) -> tuple[Envelope, Event] | None:
        """The entry's envelope and contract; None for a type newer than our contracts (not
        activity we know of). Raises if it breaks its contract: it could never succeed."""
        contract = self.streams[stream]
        envelope = Envelope.decode(fields["envelope"])
        if not contract.declares(envelope.type):
            return None
        return envelope, contract.decode(envelope)

    async def _dead_letter(
        self, stream: str, entry_id: str, fields: dict[str, str], error: str
    ) -> None:
        await self.redis.xadd(
            self.dead_letters,
            {
                "envelope": fields.get("envelope", ""),
                "stream": stream,
                "entry_id": entry_id,
                "group": self.group,
                "attempts": 1,
                "error": error,
            },
        )
        RECORDED.labels("dead_lettered").inc()
        log.error("activity event dead-lettered: %s", error, extra={"entry_id": entry_id})
