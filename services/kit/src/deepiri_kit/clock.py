"""Time as MongoDB stores it: BSON dates keep milliseconds, so we never hand out a finer
timestamp than the one a later read will return."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
