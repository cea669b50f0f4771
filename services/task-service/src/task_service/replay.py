"""Replaying task-service's events from its version log (deepiri_kit.events.replay).

Every version document keeps the events its change produced (the journal), stamped with the
version's time ``at``; task.completed ids are derived from the completion, so a replayed
completion is the same event and gamification pays it at most once."""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit import Platform, RedisSettings
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import BusGuard, Journal
from task_service.events import STREAM

CHECKPOINTS = "bus_checkpoints"


def journal(db: AsyncDatabase[dict[str, Any]]) -> Journal:
    return Journal(db["task_versions"], time_field="at")


def bus_guard(platform: Platform) -> BusGuard:
    settings = platform.settings
    assert isinstance(settings, RedisSettings)
    db = platform.require_mongo()
    return BusGuard(
        platform.require_redis(),
        platform.require_bus(),
        db[CHECKPOINTS],
        [journal(db)],
        [STREAM],
        margin=settings.bus_replay_margin_seconds,
    )


async def ensure_replay_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await ensure_indexes(db["task_versions"], [IndexModel([("at", 1)], name="versions_at")])
