"""Reading what was published to a Redis stream, decoded."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from deepiri_kit.contracts import Event
from deepiri_kit.events import Envelope, EventBus, event_envelope


async def publish_event(
    redis: Any,
    stream: str,
    event: Event,
    user: str,
    event_id: str | None = None,
    *,
    source: str = "tests",
    occurred_at: datetime | None = None,
) -> str:
    """``event`` (a contract's) on ``stream`` in its envelope, as its producer publishes it,
    for ``user`` under ``event_id`` (a new one if not given: the same id again is a
    redelivery), made at ``occurred_at`` (now if not given: an earlier time is an event
    replayed late). Returns the event id."""
    envelope = event_envelope(
        event, source=source, user_id=user, event_id=event_id, occurred_at=occurred_at
    )
    await EventBus(redis).publish(stream, envelope)
    return envelope.id


def decoded(
    entries: Iterable[tuple[Any, dict[str, Any]]], event_type: str | None = None
) -> list[Envelope]:
    """The envelopes of ``XRANGE`` entries, oldest first (only ``event_type``'s if given)."""
    events = [Envelope.decode(fields["envelope"]) for _, fields in entries]
    return [e for e in events if event_type is None or e.type == event_type]


async def published(redis: Any, stream: str, event_type: str | None = None) -> list[Envelope]:
    """Every envelope on ``stream`` (an asyncio Redis client), oldest first."""
    return decoded(await redis.xrange(stream), event_type)


def consumed(redis: Any, stream: str, group: str) -> bool:
    """``group`` has read every entry of ``stream`` and acknowledged it (a blocking client)."""
    groups = {g["name"]: g for g in redis.xinfo_groups(stream)}
    found = groups.get(group)
    return bool(found) and found["pending"] == 0 and found["lag"] == 0


async def drained(redis: Any, stream: str, group: str) -> bool:
    """``group`` has read and acknowledged every entry of ``stream`` (an asyncio client)."""
    from redis.exceptions import ResponseError

    try:
        groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
    except ResponseError:  # no such stream yet
        return False
    found = groups.get(group)
    return bool(found) and found["pending"] == 0 and found["lag"] == 0
