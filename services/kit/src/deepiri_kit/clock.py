"""Time as MongoDB stores it: BSON dates keep milliseconds, so we never hand out a finer
timestamp than the one a later read will return."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["stored_time", "utcnow"]


def utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def stored_time(value: datetime) -> datetime:
    """``value`` in UTC to the millisecond, as MongoDB will return it: compare an event's
    time with a stored one in this form, or the same instant replayed looks newer."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
