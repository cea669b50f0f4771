"""Outbox entries: the events a write decided, stored inside the written document.

A producer puts its events into the document it inserts (field ``_outbox``), so the change
and its events are one atomic write; they are published after the write and delivery is
recorded. How, with what bound on the delay, and how a crash is recovered is the write
path's business: see :mod:`deepiri_kit.chain`. This module is only the entry format and
the publish step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from deepiri_kit import metrics
from deepiri_kit.events.bus import EventBus
from deepiri_kit.events.envelope import Envelope

OUTBOX = "_outbox"

RELAYED = metrics.counter(
    "deepiri_outbox_relayed_total",
    "Outbox entries published, by path (inline right after the write, or by the sweep).",
    ("path",),
)

Document = dict[str, Any]


def outbox_entry(stream: str, event: Envelope) -> Document:
    # Stored encoded: what is published later is byte-for-byte what was decided now.
    entry: Document = {
        "id": event.id,
        "stream": stream,
        "type": event.type,
        "at": datetime.now(UTC),
        "payload": event.encode().decode(),
    }
    # Beside the payload too, so publishing needs no decoding to join the event's trace.
    if event.traceparent:
        entry["traceparent"] = event.traceparent
    if event.tracestate:
        entry["tracestate"] = event.tracestate
    return entry


class _Origin(msgspec.Struct):
    traceparent: str | None = None
    tracestate: str | None = None


def entry_origin(entry: Mapping[str, Any]) -> dict[str, str | None]:
    """The trace context an outbox entry's event carries (entries stored before it was kept
    beside the payload: read from the payload)."""
    if "traceparent" in entry:
        return {"traceparent": entry["traceparent"], "tracestate": entry.get("tracestate")}
    try:
        found = msgspec.json.decode(entry["payload"], type=_Origin)
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError):
        return {}
    return {"traceparent": found.traceparent, "tracestate": found.tracestate}


async def publish_entries(bus: EventBus, entries: Sequence[Document]) -> None:
    """Publish outbox entries as stored, each in the trace its event carries."""
    for entry in entries:
        await bus.publish_raw(
            entry["stream"], entry["payload"], entry["type"], entry_origin(entry), entry.get("id")
        )
