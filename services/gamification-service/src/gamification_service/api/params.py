"""What every controller shares: the caller, scopes and the parsing of cursors and period
keys. Domain errors need no handling here: the kit maps them to problem documents."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.params import QueryParameter

from deepiri_kit import (
    MALFORMED,
    MAX_LIMIT,
    BadRequest,
    Invalid,
    Principal,
    decode_cursor,
    requires_scopes,
    utcnow,
)
from gamification_service.domain.boards import resolve_period_key
from gamification_service.domain.periods import Period

Caller = Request[Principal, Any, Any]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
# The syntax of every period's keys (the document states it; a key that breaks it is a 400).
PeriodKey = Annotated[
    str | None,
    QueryParameter(
        pattern=r"^(\d{4}-\d{2}-\d{2}|\d{4}-W\d{2}|\d{4}-\d{2}|all)$",
        description="YYYY-MM-DD (day), YYYY-Www (week), YYYY-MM (month) or all",
    ),
]
READ = [requires_scopes("gamification:read")]
WRITE = [requires_scopes("gamification:write")]
ADMIN = [requires_scopes("gamification:admin")]
RATINGS_WRITE = [requires_scopes("ratings:write")]


def seq_cursor(cursor: str | None, sort: str) -> int | None:
    """The sequence number a ledger or history cursor names (None for the first page)."""
    if not cursor:
        return None
    value, _ = decode_cursor(cursor, sort)
    if not isinstance(value, int):
        raise BadRequest(MALFORMED)
    return value


def period_key_of(period: Period, key: str | None) -> str:
    """The period key a board request names (the current period when it names none). A
    well-formed key that names no period of this kind (another period's key, a day the
    calendar has not got, one beyond year 9999) breaks a rule the schema cannot state: 422."""
    try:
        return resolve_period_key(period, key, utcnow())
    except ValueError:
        raise Invalid(f"period_key {key!r} is not a valid {period} key") from None
