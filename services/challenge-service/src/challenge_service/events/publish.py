"""What challenge-service publishes: its stream's contract is ``deepiri_kit.contracts.challenge``."""

from __future__ import annotations

from deepiri_kit.contracts.challenge import STREAM, ItemCreated
from deepiri_kit.events import Envelope, event_envelope

SOURCE = "challenge-service"

__all__ = ["SOURCE", "STREAM", "item_created"]


def item_created(owner: str, event: ItemCreated) -> Envelope:
    # The id follows from the item, so a retried publish is recognisably the same event.
    return event_envelope(
        event, source=SOURCE, user_id=owner, event_id=f"{event.TYPE}:{event.item_id}"
    )
