"""The activity recorder: every event on the activity streams (``events.tasks``,
``events.gamification``, ``events.skills``, ``events.social``), decoded with its kit
contract and handed to the sink (``service/activity.py``) a batch at a time, in a consumer
group of its own (``user-service-activity``), so the skill-XP consumer never waits for it.

It is the kit's :class:`~deepiri_kit.events.BatchConsumer`: a failed write is not the
events' fault, so while the sink fails (InfluxDB down) nothing is acked and nothing goes to
the dead letters — the batch stays pending and is written again, with back-off, until it
succeeds; after a crash another process claims it once it has been idle for
``visibility_timeout``. The sink's writes are idempotent per event id, so writing a batch
again (or an event delivered twice) changes nothing. Only an event that breaks its contract
is dead-lettered (``dlq.user-service-activity``): it could never succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from redis.asyncio import Redis

from deepiri_kit.contracts import ContractError, Event, Stream, gamification, skills, social, tasks
from deepiri_kit.events import BatchConsumer, Delivery, Envelope, Rejections

GROUP: Final = "user-service-activity"
STREAMS: Final = (tasks.STREAM, gamification.STREAM, skills.STREAM, social.STREAM)


class Sink(Protocol):
    async def record(self, events: Sequence[tuple[Envelope, Event]]) -> object:
        """Store the batch (idempotently per event id); raise if it was not stored."""


class Recording:
    """The batch handler: each event with its contract to the sink; a type newer than our
    contracts is not activity we know of (skipped), one breaking its contract is rejected."""

    def __init__(self, sink: Sink, streams: Sequence[Stream]) -> None:
        self.sink = sink
        self.contracts = {s.name: s for s in streams}

    async def __call__(self, batch: Sequence[Delivery]) -> Rejections:
        events: list[tuple[Envelope, Event]] = []
        rejected: list[tuple[Delivery, str]] = []
        for delivery in batch:
            contract = self.contracts[delivery.stream]
            if not contract.declares(delivery.event.type):
                continue
            try:
                events.append((delivery.event, contract.decode(delivery.event)))
            except ContractError as exc:
                rejected.append((delivery, f"{type(exc).__name__}: {exc}"))
        if events:
            await self.sink.record(events)  # raises while the store is away: nothing acked
        return rejected


def recorder(
    redis: Redis,
    sink: Sink,
    *,
    group: str = GROUP,
    streams: Sequence[Stream] = STREAMS,
    batch: int = 500,
    block_ms: int = 1000,
    visibility_timeout: float = 30.0,
    name: str | None = None,
) -> BatchConsumer:
    return BatchConsumer(
        redis,
        group=group,
        streams=[s.name for s in streams],
        handler=Recording(sink, streams),
        name=name,
        batch=batch,
        block_ms=block_ms,
        visibility_timeout=visibility_timeout,
    )
