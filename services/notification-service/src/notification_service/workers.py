"""Background work that lives as long as the app: the event consumer, the delivery sweep
(held and failed deliveries), the daily digest and the inbox's pruning."""

from __future__ import annotations

from deepiri_kit import Periodic, Platform, Worker
from deepiri_kit.events import Consumer, MongoInbox
from notification_service.events import consume
from notification_service.service import Deliveries, Digests, Reactions
from notification_service.settings import NotificationSettings


def background(
    platform: Platform,
    reactions: Reactions,
    deliveries: Deliveries,
    digests: Digests,
    inbox: MongoInbox,
) -> list[Worker]:
    settings = platform.settings
    assert isinstance(settings, NotificationSettings)
    consumer = Consumer(
        platform.require_redis(),
        group=consume.GROUP,
        handlers=consume.handlers(reactions),
        inbox=inbox,
        block_ms=settings.consumer_block_ms,
        # Their events become notifications (or nothing): the notification's id derives from
        # the event id and its insert is the record of the event (Deliveries.notify).
        self_marking=consume.SELF_MARKING,
    )
    return [
        consumer,
        Periodic("delivery-sweep", settings.delivery_interval_seconds, deliveries.sweep),
        Periodic("daily-digest", settings.digest_interval_seconds, digests.run),
        Periodic("inbox-prune", 3600.0, inbox.prune),
    ]
