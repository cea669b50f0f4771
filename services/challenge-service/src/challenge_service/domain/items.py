"""Items: the example resource's rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from deepiri_kit.errors import Invalid

MAX_QUANTITY = 1000


@dataclass(frozen=True)
class Item:
    id: str
    owner: str
    name: str
    quantity: int
    created_at: datetime


def normalise_name(name: str) -> str:
    """Names compare as people read them: surrounding and repeated whitespace collapses."""
    return " ".join(name.split())


def new_item(*, item_id: str, owner: str, name: str, quantity: int, now: datetime) -> Item:
    clean = normalise_name(name)
    if not clean:
        raise Invalid("name must contain more than whitespace")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise Invalid(f"quantity must be between 1 and {MAX_QUANTITY}")
    return Item(id=item_id, owner=owner, name=clean, quantity=quantity, created_at=now)
