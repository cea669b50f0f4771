"""Background work that lives as long as the app: the event consumer (``task.completed`` →
skill XP), the activity recorder (activity events → InfluxDB, batched) and the bucket's
retention, the account log's, the skill log's and the social log's sweepers (they publish
what a crash or a Redis outage left undelivered) and compactors, the bus guard (it replays
the three logs' journals when the Redis behind the bus lost events:
``deepiri_kit.events.replay``; of an erased account only ``user.deleted`` is left to replay),
and the signing-key reloader (a rotation made elsewhere reaches this process)."""

from __future__ import annotations

import asyncio
import logging

from deepiri_kit import Periodic, Platform, Worker, backoff, pause
from deepiri_kit.contracts import skills, social, users
from deepiri_kit.events import BusGuard, Consumer, RedisInbox
from user_service.events import activity, consume
from user_service.service.wiring import Services
from user_service.settings import UserSettings
from user_service.store.activity import ActivityStore

KEY_RELOAD_SECONDS = 60.0
CHECKPOINTS = "bus_checkpoints"
INBOX_RETENTION_DAYS = 2
DAY_SECONDS = 86_400

log = logging.getLogger("user_service.activity")


class BucketRetention:
    """Sets the activity bucket's retention once InfluxDB answers (it may start after us)."""

    name = "activity-retention"

    def __init__(self, store: ActivityStore, seconds: int) -> None:
        self.store = store
        self.seconds = seconds

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                await self.store.ensure_retention(self.seconds)
                return
            except Exception as exc:
                attempt += 1
                wait = backoff(attempt, first=1.0, limit=60.0)
                log.warning("activity bucket retention not set (retry in %.0fs): %s", wait, exc)
                await pause(stop, wait)


def bus_guard(platform: Platform, services: Services) -> BusGuard:
    """The guard over the account, social and skill logs' streams (the worker, and the
    operator's ``replay``)."""
    settings = platform.settings
    assert isinstance(settings, UserSettings)
    return BusGuard(
        platform.require_redis(),
        platform.require_bus(),
        platform.require_mongo()[CHECKPOINTS],
        [
            services.accounts.store.journal,
            services.social.store.journal,
            services.skills.store.journal,
        ],
        [users.STREAM.name, social.STREAM.name, skills.STREAM.name],
        margin=settings.bus_replay_margin_seconds,
    )


def background(platform: Platform, services: Services) -> list[Worker]:
    settings = platform.settings
    assert isinstance(settings, UserSettings)
    redis = platform.require_redis()
    # The inbox only makes redeliveries cheap; the skill log's unique change key is what
    # makes XP exactly-once.
    consumer = Consumer(
        redis,
        group=settings.consumer_group or consume.GROUP,
        handlers=consume.Handlers(services.skills).streams(),
        inbox=RedisInbox(redis, retention_days=INBOX_RETENTION_DAYS),
        block_ms=settings.consumer_block_ms,
    )
    recorder = activity.recorder(
        redis,
        services.activity,
        group=f"{settings.consumer_group or consume.GROUP}-activity",
        batch=settings.activity_batch,
        block_ms=settings.consumer_block_ms,
    )
    return [
        consumer,
        recorder,
        BucketRetention(services.activity.store, settings.activity_retention_days * DAY_SECONDS),
        *services.accounts.store.log.workers(),
        *services.skills.store.workers(),
        *services.social.store.workers(),
        bus_guard(platform, services).worker(settings.bus_guard_interval_seconds),
        Periodic("signing-keys", KEY_RELOAD_SECONDS, services.provider.keys.load),
    ]
