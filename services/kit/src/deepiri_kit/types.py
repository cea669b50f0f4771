"""Value types every service parses at its edge: bounded, and in one canonical form.

A value that reaches a handler through these types cannot overflow a datastore (integers fit
BSON's int64, times convert to UTC) and has one spelling (ids are lower case), so keys,
events and lookups built from it agree however the client spelled it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar.params import PathParameter

from deepiri_kit.problems import BadRequest

# The largest integer every JSON client reads exactly (JavaScript's Number.MAX_SAFE_INTEGER),
# far inside BSON's int64 and exact in an OpenAPI document's floating-point bounds.
MAX_SAFE_INTEGER = 2**53 - 1

SafeInt = Annotated[int, msgspec.Meta(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
NonNegative = Annotated[int, msgspec.Meta(ge=0, le=MAX_SAFE_INTEGER)]
Positive = Annotated[int, msgspec.Meta(ge=1, le=MAX_SAFE_INTEGER)]


@dataclass(frozen=True)
class Canonical:
    """Annotation marker: the value is lower-cased before validation (see deepiri_kit.inbound
    for path parameters and deepiri_kit.models.Model for bodies)."""

    form: str = "lower"


LOWER_CASE = Canonical()

OBJECT_ID_PATTERN = r"^[0-9a-fA-F]{24}$"
_OBJECT_ID = "24 hexadecimal digits, any case (answered and stored in lower case)"
# In a body; and as a path parameter (Litestar takes a parameter's constraints from its
# PathParameter, so the pattern is stated there).
ObjectIdStr = Annotated[
    str, msgspec.Meta(pattern=OBJECT_ID_PATTERN, description=_OBJECT_ID), LOWER_CASE
]
ObjectIdPath = Annotated[
    str, PathParameter(pattern=OBJECT_ID_PATTERN, description=_OBJECT_ID), LOWER_CASE
]


# Any time whose wall-clock date lies in [0001-01-02, 9999-12-30] converts to UTC whatever its
# offset (offsets are below a day); the first and last day of the calendar may not.
TIME_MIN = datetime(1, 1, 2)
TIME_MAX = datetime(9999, 12, 31)
TIME_RANGE_PATTERN = r"^(?!0001-01-01|9999-12-31)"


def in_time_range(value: datetime) -> bool:
    return TIME_MIN <= value.replace(tzinfo=None) < TIME_MAX


def to_utc(value: datetime, name: str) -> datetime:
    """An aware time in UTC (400 for a naive one or one that UTC cannot represent)."""
    if value.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone offset (e.g. 2026-03-01T00:00:00Z)")
    if not in_time_range(value):
        raise BadRequest(f"{name} is out of range (0001-01-02 to 9999-12-30)")
    return value.astimezone(UTC)
