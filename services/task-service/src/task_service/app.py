"""task-service's Litestar app, built from the shared kit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from deepiri_kit import Platform, Wiring, from_state, load_settings, retry_startup
from deepiri_kit import create_app as kit_app
from deepiri_kit.data.mongo import Tombstones
from task_service.api import ROUTES
from task_service.service import TaskService
from task_service.settings import TaskSettings
from task_service.store.edges import EdgeStore
from task_service.store.tasks import TaskStore
from task_service.workers import background, bus_guard

PREFIX = "/api/tasks"


def task_service(platform: Platform) -> TaskService:
    db = platform.require_mongo()
    return TaskService(TaskStore(db, platform.require_bus()), EdgeStore(db), Tombstones(db))


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    service = task_service(platform)
    await retry_startup(service.ensure_indexes, what="task indexes")
    guard = bus_guard(platform, service.store)
    # Versions carry the request's Idempotency-Key stamp (see deepiri_kit.idempotency).
    yield Wiring(
        state={"service": service, "store": service.store, "bus_guard": guard},
        workers=background(platform, service, guard),
        stamped=[service.store.versions],
    )


def create_app(settings: TaskSettings | None = None) -> Litestar:
    return kit_app(
        settings or load_settings(TaskSettings),
        prefix=PREFIX,
        title="Deepiri task-service",
        description="Tasks, versions, dependency graph and completion events.",
        route_handlers=ROUTES,
        dependencies={"service": from_state("service")},
        setup=setup,
    )
