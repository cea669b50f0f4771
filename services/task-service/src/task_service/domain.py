"""Task rules, free of I/O and frameworks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

Kind = Literal["todo", "daily", "habit"]
Difficulty = Literal["trivial", "easy", "medium", "hard"]


def new_task(owner: str, fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A new task document: the caller's fields plus everything only the server may set."""
    return {
        **fields,
        "owner": owner,
        "status": "open",
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
