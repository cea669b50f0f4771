"""Background work that lives as long as the app: none (no consumer, no write path)."""

from __future__ import annotations

from deepiri_kit import Worker


def background() -> list[Worker]:
    return []
