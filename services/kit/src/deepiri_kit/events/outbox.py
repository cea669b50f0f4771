"""Outbox entries: the events a write decided, stored inside the written document.

A producer puts its events into the document it inserts (field ``_outbox``), so the change
and its events are one atomic write; they are published after the write and delivery is
recorded. How, with what bound on the delay, and how a crash is recovered is the write
path's business: see :mod:`deepiri_kit.chain`. This module is only the entry format and
the publish step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

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
    return {
        "id": event.id,
        "stream": stream,
        "type": event.type,
        "at": datetime.now(UTC),
        "payload": event.encode().decode(),
    }


async def publish_entries(bus: EventBus, entries: Sequence[Document]) -> None:
    """Publish outbox entries as stored."""
    for entry in entries:
        await bus.publish_raw(entry["stream"], entry["payload"], entry["type"])
