"""Background work that lives as long as the app: the event consumer (unless this process
only holds sockets), the presence heartbeat and the reaper of users whose pod died."""

from __future__ import annotations

from deepiri_kit import Periodic, Platform, Worker
from deepiri_kit.events import Consumer, RedisInbox
from websocket_service.api.sockets import SocketGateway
from websocket_service.events import consume
from websocket_service.service import Realtime
from websocket_service.settings import WebsocketSettings

INBOX_RETENTION_DAYS = 2


def background(
    platform: Platform, realtime: Realtime, gateway: SocketGateway, settings: WebsocketSettings
) -> list[Worker]:
    redis = platform.require_redis()
    heartbeat = Periodic(
        "presence-heartbeat", settings.presence_heartbeat_seconds, gateway.heartbeat
    )
    reaper = Periodic("presence-reaper", settings.presence_reap_seconds, realtime.reap)
    if not settings.consume_events:
        return [heartbeat, reaper]
    consumer = Consumer(
        redis,
        group=consume.GROUP,
        handlers=consume.handlers(realtime),
        # A redelivered event is not shown twice (clients also see the same id).
        inbox=RedisInbox(redis, retention_days=INBOX_RETENTION_DAYS),
        block_ms=settings.consumer_block_ms,
    )
    return [consumer, heartbeat, reaper]
