"""Background work that lives as long as the app: the event consumer and the write path's
sweeper and compactor."""

from __future__ import annotations

from challenge_service.events import consume
from challenge_service.service import ItemService
from deepiri_kit import Platform, Worker
from deepiri_kit.events import Consumer, RedisInbox


def background(platform: Platform, service: ItemService) -> list[Worker]:
    redis = platform.require_redis()
    consumer = Consumer(
        redis, group=consume.GROUP, handlers=consume.handlers(service), inbox=RedisInbox(redis)
    )
    return [consumer, *service.store.log.workers()]
