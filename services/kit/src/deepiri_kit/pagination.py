"""Cursor (keyset) pagination: stable under inserts, no skip/offset scans.

A cursor is the sort key and ``_id`` of the last item, opaque to clients (base64url JSON).
Tampered or foreign cursors are a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from deepiri_kit.problems import BadRequest

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    next_cursor: str | None = None


class _Cursor(msgspec.Struct, array_like=True):
    sort: str  # which ordering the cursor belongs to; a cursor for another sort is refused
    value: str | int | float | None
    id: str
    is_time: bool = False  # JSON has no datetime: remember to turn the string back into one


def encode_cursor(sort: str, value: Any, doc_id: Any) -> str:
    is_time = isinstance(value, datetime)
    cursor = _Cursor(sort, value.isoformat() if is_time else value, str(doc_id), is_time)
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).rstrip(b"=").decode()


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(padded), type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise BadRequest("the cursor is malformed; pass next_cursor back unchanged") from None
    if decoded.sort != sort:
        raise BadRequest("the cursor belongs to a different sort order")
    if decoded.is_time:
        try:
            return datetime.fromisoformat(str(decoded.value)), decoded.id
        except ValueError:
            raise BadRequest("the cursor is malformed; pass next_cursor back unchanged") from None
    return decoded.value, decoded.id


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
