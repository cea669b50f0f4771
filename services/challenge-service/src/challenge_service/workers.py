"""Background work that lives as long as the app: the event consumer, the deadline worker
and the write path's sweeper and compactor."""

from __future__ import annotations

from challenge_service.events import consume
from challenge_service.service import Challenges
from challenge_service.settings import ChallengeSettings
from deepiri_kit import Periodic, Platform, Worker
from deepiri_kit.events import Consumer, MongoInbox


def background(platform: Platform, challenges: Challenges) -> list[Worker]:
    settings = platform.settings
    assert isinstance(settings, ChallengeSettings)
    inbox = MongoInbox(platform.require_mongo()["consumed_events"])
    consumer = Consumer(
        platform.require_redis(),
        group=consume.GROUP,
        handlers=consume.handlers(challenges),
        inbox=inbox,
        block_ms=settings.consumer_block_ms,
        wanted=consume.WANTED,
        self_marking=consume.SELF_MARKING,
    )
    return [
        consumer,
        Periodic("deadlines", settings.deadline_interval_seconds, challenges.settle_due),
        Periodic("inbox-prune", 3600.0, inbox.prune),
        *challenges.store.log.workers(),
    ]
