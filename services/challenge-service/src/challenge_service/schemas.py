"""Request and response bodies: strict models (unknown fields are a 400) and their shaping
from domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from challenge_service.domain.items import MAX_QUANTITY, Item
from deepiri_kit import Model, Out, ShortText

Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]


class ItemIn(Model):
    name: ShortText
    quantity: Quantity = 1


class ItemOut(Out):
    id: str
    name: str
    quantity: int
    created_at: datetime

    @classmethod
    def of(cls, item: Item) -> ItemOut:
        return cls(id=item.id, name=item.name, quantity=item.quantity, created_at=item.created_at)


class CountOut(Out):
    count: int
