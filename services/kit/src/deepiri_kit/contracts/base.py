"""What an event contract is: a typed struct per event type, grouped by stream.

The producer builds the struct and encodes it (``deepiri_kit.events.event_envelope``); every
consumer decodes the envelope's ``data`` into the same struct (:meth:`Event.decode`,
:meth:`Stream.decode`) and passes it on. Decoding is strict about types (a string where an
int belongs, a time without a zone, a value outside a literal set: refused) and tolerant
of fields it does not know, so a producer may add an optional field without breaking
consumers deployed before it, and a replayed old event (the producer's journal) still
decodes. Renaming, retyping or removing a field is a new event type.

Pure: msgspec only, so ``domain/`` code may take these structs as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Protocol, Self

import msgspec

__all__ = ["Carried", "ContractError", "Event", "Stream", "UtcTime"]

# Times on the wire carry their zone (producers send UTC, ``...Z``).
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class ContractError(ValueError):
    """An event that does not match its contract: unknown type, or data of the wrong shape."""


class Carried(Protocol):
    """What decoding needs of an envelope (``deepiri_kit.events.Envelope`` is one)."""

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> Mapping[str, Any]: ...


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """The data of one event type; a subclass sets ``TYPE`` and declares the fields."""

    TYPE: ClassVar[str] = ""

    @classmethod
    def decode(cls, carried: Carried) -> Self:
        """``carried``'s data as this type; :class:`ContractError` if it is another type or
        does not match."""
        if carried.type != cls.TYPE:
            raise ContractError(f"expected a {cls.TYPE} event, got {carried.type!r}")
        return cls.from_data(carried.data)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise ContractError(f"{cls.TYPE}: {exc}") from None

    def data(self) -> dict[str, Any]:
        """The JSON-ready data for the envelope (times as ISO 8601 ``...Z``)."""
        encoded: dict[str, Any] = msgspec.to_builtins(self)
        return encoded


class Stream:
    """One stream: its name and the event types that travel on it."""

    def __init__(self, name: str, *events: type[Event]) -> None:
        self.name = name
        self.types: Mapping[str, type[Event]] = {e.TYPE: e for e in events}
        if len(self.types) != len(events) or "" in self.types:
            raise ValueError(f"{name}: every event needs its own TYPE")

    def __repr__(self) -> str:
        return f"Stream({self.name!r})"

    def declares(self, event_type: str) -> bool:
        return event_type in self.types

    def decode(self, carried: Carried) -> Event:
        """Whichever of this stream's events ``carried`` is; :class:`ContractError` for a type
        the stream does not declare or data that does not match."""
        contract = self.types.get(carried.type)
        if contract is None:
            raise ContractError(f"{self.name} declares no event type {carried.type!r}")
        return contract.from_data(carried.data)
