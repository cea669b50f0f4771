"""What gamification-service publishes: ``events.gamification``, whose contract is
``deepiri_kit.contracts.gamification`` (currency credited / spent, level-up, badge awarded,
rating changed; envelope ``user_id`` = the user concerned). The use cases decide each in the
same MongoDB insert as the change it announces (an outbox entry of the write path), so none
is lost.
"""

from __future__ import annotations

from typing import Any, Final

from deepiri_kit.contracts import Event
from deepiri_kit.contracts.gamification import STREAM
from deepiri_kit.events import event_envelope, outbox_entry

__all__ = ["SOURCE", "STREAM", "outbox"]

SOURCE: Final = "gamification-service"


def outbox(user_id: str, events: list[Event]) -> list[dict[str, Any]]:
    """``events`` about ``user_id`` as outbox entries for the insert that decides them."""
    return [
        outbox_entry(STREAM.name, event_envelope(e, source=SOURCE, user_id=user_id)) for e in events
    ]
