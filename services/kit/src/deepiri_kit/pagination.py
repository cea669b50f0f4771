"""Cursor (keyset) pagination: stable under inserts, no skip/offset scans.

A cursor is the sort key and ``_id`` of the last item, opaque to clients (base64url JSON).
Decoding is strict and bounded — integers within the kit's safe range, times that UTC can
represent, short strings — so a tampered or foreign cursor is a 400, never a 500 from the
datastore it would otherwise reach.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

from deepiri_kit.problems import BadRequest
from deepiri_kit.types import SafeInt

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_CHARS = 512
MALFORMED = "the cursor is malformed; pass next_cursor back unchanged"

CursorQuery = Annotated[
    str | None,
    QueryParameter(
        max_length=MAX_CURSOR_CHARS, description="a page's next_cursor, passed back unchanged"
    ),
]

_Short = Annotated[str, msgspec.Meta(max_length=200)]
_Finite = Annotated[float, msgspec.Meta(ge=-1e300, le=1e300)]


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    next_cursor: str | None = None


class _Cursor(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    sort: _Short  # which ordering the cursor belongs to; a cursor for another sort is refused
    value: SafeInt | _Finite | _Short | None
    id: Annotated[str, msgspec.Meta(max_length=64)]
    is_time: bool = False  # JSON has no datetime: remember to turn the string back into one


def encode_cursor(sort: str, value: Any, doc_id: Any) -> str:
    is_time = isinstance(value, datetime)
    if is_time:
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    cursor = _Cursor(sort, value, str(doc_id), is_time)
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).rstrip(b"=").decode()


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """The (sort value, id) a cursor names: an int, float, string, None or an aware datetime."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadRequest(MALFORMED)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
        decoded = msgspec.json.decode(raw, type=_Cursor, strict=True)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        # ValueError covers non-ASCII text and invalid UTF-8 inside the decoded bytes.
        raise BadRequest(MALFORMED) from None
    if decoded.sort != sort:
        raise BadRequest("the cursor belongs to a different sort order")
    if decoded.is_time:
        return _time(decoded.value), decoded.id
    return decoded.value, decoded.id


def _time(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    # We only ever write UTC times; any other offset is a forged cursor (and could overflow).
    if moment is None or moment.utcoffset() != timedelta(0):
        raise BadRequest(MALFORMED)
    return moment


def keyset_filter(field: str, descending: bool, after_value: Any, after_id: Any) -> dict[str, Any]:
    """Documents strictly after (value, _id) in the order ``field`` then ``_id``, same direction."""
    op = "$lt" if descending else "$gt"
    return {"$or": [{field: {op: after_value}}, {field: after_value, "_id": {op: after_id}}]}


def page_of(
    docs: Sequence[dict[str, Any]], limit: int, sort: str, field: str
) -> tuple[list[dict[str, Any]], str | None]:
    """Given ``limit + 1`` fetched documents, the page and the cursor to the next one."""
    items = list(docs[:limit])
    if len(docs) <= limit or not items:
        return items, None
    last = items[-1]
    return items, encode_cursor(sort, last.get(field), last["_id"])
