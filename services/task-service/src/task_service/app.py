"""task-service's Litestar app, built from the shared kit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from deepiri_kit import (
    Platform,
    Wiring,
    from_state,
    load_settings,
    retry_startup,
)
from deepiri_kit import (
    create_app as kit_app,
)
from task_service.api import ROUTES
from task_service.replay import bus_guard, ensure_replay_indexes
from task_service.settings import TaskSettings
from task_service.store import TaskStore

PREFIX = "/api/tasks"


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    db = platform.require_mongo()
    store = TaskStore(db, platform.require_bus())
    await retry_startup(store.ensure_indexes, what="task indexes")
    await retry_startup(lambda: ensure_replay_indexes(db), what="replay indexes")
    # Replays what a Redis that lost its data dropped (see deepiri_kit.events.replay).
    guard = bus_guard(platform)
    settings = platform.settings
    assert isinstance(settings, TaskSettings)
    # The log's workers finish what a crash or a Redis outage left (applies, publishes).
    # Versions carry the request's Idempotency-Key stamp (see deepiri_kit.idempotency).
    yield Wiring(
        state={"store": store, "bus_guard": guard},
        workers=[*store.log.workers(), guard.worker(settings.bus_guard_interval_seconds)],
        stamped=[db["task_versions"]],
    )


def create_app(settings: TaskSettings | None = None) -> Litestar:
    return kit_app(
        settings or load_settings(TaskSettings),
        prefix=PREFIX,
        title="Deepiri task-service",
        description="Tasks, versions, dependency graph and completion events.",
        route_handlers=ROUTES,
        dependencies={"store": from_state("store")},
        setup=setup,
    )
