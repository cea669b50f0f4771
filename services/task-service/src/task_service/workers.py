"""Background work for the app's lifetime: the event consumer (``events/consume.py``
decodes, the use cases act: a deleted account is erased), the version log's sweeper and
compactor (the kit's write path finishes what a crash or a Redis outage left) and the bus
guard, which replays the journal when the Redis behind the bus lost events
(``deepiri_kit.events.replay``).

Every version document keeps the events its change produced, stamped with the version's
time ``at``; task.completed ids are derived from the completion, so a replayed completion
is the same event and gamification pays it at most once."""

from __future__ import annotations

from deepiri_kit import Platform, RedisSettings, Worker
from deepiri_kit.events import BusGuard, Consumer, RedisInbox
from task_service.events import consume
from task_service.events.publish import STREAM
from task_service.service import TaskService
from task_service.settings import TaskSettings
from task_service.store.tasks import TaskStore

CHECKPOINTS = "bus_checkpoints"
# Erasing is idempotent on its own (deletes and a tombstone); the inbox only spares a
# redelivery the work.
INBOX_RETENTION_DAYS = 2


def bus_guard(platform: Platform, store: TaskStore) -> BusGuard:
    settings = platform.settings
    assert isinstance(settings, RedisSettings)
    return BusGuard(
        platform.require_redis(),
        platform.require_bus(),
        platform.require_mongo()[CHECKPOINTS],
        [store.journal],
        [STREAM],
        margin=settings.bus_replay_margin_seconds,
    )


def consumer(platform: Platform, service: TaskService) -> Consumer:
    settings = platform.settings
    assert isinstance(settings, TaskSettings)
    redis = platform.require_redis()
    return Consumer(
        redis,
        group=consume.GROUP,
        handlers=consume.Handlers(service).streams(),
        inbox=RedisInbox(redis, retention_days=INBOX_RETENTION_DAYS),
        block_ms=settings.consumer_block_ms,
    )


def background(platform: Platform, service: TaskService, guard: BusGuard) -> list[Worker]:
    settings = platform.settings
    assert isinstance(settings, RedisSettings)
    return [
        consumer(platform, service),
        *service.store.log.workers(),
        guard.worker(settings.bus_guard_interval_seconds),
    ]
