"""Background work that lives as long as the app: the event consumer (``task.completed`` →
skill XP), the account log's and the skill log's sweepers (they publish what a crash or a
Redis outage left undelivered) and compactors, and the signing-key reloader (a rotation
made elsewhere reaches this process)."""

from __future__ import annotations

from deepiri_kit import Periodic, Platform, Worker
from deepiri_kit.events import Consumer, RedisInbox
from user_service.events import consume
from user_service.service.wiring import Services
from user_service.settings import UserSettings

KEY_RELOAD_SECONDS = 60.0
INBOX_RETENTION_DAYS = 2


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
    return [
        consumer,
        *services.accounts.store.log.workers(),
        *services.skills.store.workers(),
        *services.social.store.workers(),
        Periodic("signing-keys", KEY_RELOAD_SECONDS, services.provider.keys.load),
    ]
