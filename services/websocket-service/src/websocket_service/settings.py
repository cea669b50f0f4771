"""The service's typed environment. The mixins decide which clients the kit opens and what
readiness checks; they must match the chart's ``datastores`` for this service (redis)."""

from __future__ import annotations

from dataclasses import dataclass

from deepiri_kit import RedisSettings, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class WebsocketSettings(ServiceSettings, RedisSettings):
    service_name: str = "websocket-service"
    port: int = 5008
    # Browser origins allowed to open sockets, comma-separated; "" = same origin as the
    # request's Host only (python-socketio's check; clients that send no Origin, such as
    # apps and Node, are not affected).
    socket_allowed_origins: str = ""
    socket_ping_interval_seconds: float = 25.0
    socket_ping_timeout_seconds: float = 20.0
    socket_max_message_bytes: int = 64_000
    # The Redis pub/sub channel of the Socket.IO manager: notification-service's write-only
    # emitter must use the same one.
    socket_channel: str = "socketio"
    # A socket's presence entry lives this long unless a heartbeat renews it, so a crashed
    # pod's users go offline by themselves within it.
    presence_ttl_seconds: float = 60.0
    presence_heartbeat_seconds: float = 20.0
    # How often each pod looks for users whose sockets all expired (their pod died) to tell
    # their friends they went offline.
    presence_reap_seconds: float = 10.0
    last_seen_retention_days: int = 30
    # SIGTERM: clients are told to reconnect elsewhere and closed within this many seconds
    # (below the pod's terminationGracePeriodSeconds, which also covers the server's stop).
    drain_seconds: float = 15.0
    # false: this process only holds sockets; the events reach them through Redis from the
    # processes that consume (every pod consumes by default).
    consume_events: bool = True
    consumer_block_ms: int = 1000
