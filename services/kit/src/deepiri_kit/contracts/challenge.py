"""``events.challenge``: what challenge-service publishes. Envelope ``user_id`` = the item's owner.
(The example stream: replace ``item.created`` with the service's own events.)
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from deepiri_kit.contracts.base import Event, Stream

__all__ = ["ITEM_CREATED", "STREAM", "ItemCreated"]

ITEM_CREATED = "item.created"


class ItemCreated(Event, frozen=True, kw_only=True):
    TYPE = ITEM_CREATED

    item_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    name: str
    quantity: Annotated[int, msgspec.Meta(ge=1)]


STREAM = Stream("events.challenge", ItemCreated)
