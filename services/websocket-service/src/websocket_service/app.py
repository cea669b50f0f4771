"""The app: the kit's Litestar app (presence API, /health, /metrics, OpenAPI under
/socket.io/schema) with the Socket.IO server mounted at the Engine.IO path ``/socket.io/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import socketio
from litestar import Litestar

from deepiri_kit import Platform, Wiring, from_state, load_settings
from deepiri_kit import create_app as kit_app
from websocket_service import workers
from websocket_service.api import ROUTES
from websocket_service.api.sockets import SocketGate, SocketGateway
from websocket_service.service import Realtime
from websocket_service.settings import WebsocketSettings
from websocket_service.store.friends import FriendStore
from websocket_service.store.manager import TracedRedisManager
from websocket_service.store.presence import PresenceStore

PREFIX = "/socket.io"
ENGINE_IO_PATH = "/socket.io/"


def redis_url(settings: WebsocketSettings) -> str:
    """The Socket.IO manager's own connection, to the same Redis as the kit's client."""
    password = f":{quote(settings.redis_password, safe='')}@" if settings.redis_password else ""
    return f"redis://{password}{settings.redis_host}:{settings.redis_port}/{settings.redis_db}"


def socket_server(settings: WebsocketSettings) -> Any:
    """The Socket.IO server: WebSocket only, its rooms shared by every pod through Redis."""
    origins = [o.strip() for o in settings.socket_allowed_origins.split(",") if o.strip()]
    return socketio.AsyncServer(
        async_mode="asgi",
        client_manager=TracedRedisManager(redis_url(settings), channel=settings.socket_channel),
        transports=["websocket"],
        cors_allowed_origins=origins or None,
        ping_interval=settings.socket_ping_interval_seconds,
        ping_timeout=settings.socket_ping_timeout_seconds,
        max_http_buffer_size=settings.socket_max_message_bytes,
    )


class Sockets:
    """The ASGI app mounted at the Engine.IO path: the gate of the Socket.IO server the
    running lifespan built (each lifespan builds its own)."""

    def __init__(self) -> None:
        self.gate: SocketGate | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.gate is None:  # not started (or stopped): nothing to hand the socket to
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013})
                return
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.gate(scope, receive, send)


def build(platform: Platform, sio: Any) -> tuple[Realtime, SocketGateway]:
    """The use cases and the socket handlers on this platform's clients."""
    settings = platform.settings
    assert isinstance(settings, WebsocketSettings)
    presence = PresenceStore(
        platform.require_redis(),
        ttl_seconds=settings.presence_ttl_seconds,
        retention_days=settings.last_seen_retention_days,
    )
    realtime = Realtime(sio, presence, FriendStore(platform.require_redis()))
    return realtime, SocketGateway(sio, platform.tokens.verify, realtime, platform.limiter)


def create_app(settings: WebsocketSettings | None = None) -> Litestar:
    settings = settings or load_settings(WebsocketSettings)
    sockets = Sockets()

    @asynccontextmanager
    async def setup(platform: Platform) -> AsyncIterator[Wiring]:
        sio = socket_server(settings)
        realtime, gateway = build(platform, sio)
        sockets.gate = SocketGate(sio, gateway)
        drain_for = settings.drain_seconds

        async def drain() -> None:
            await gateway.drain(drain_for * 0.8)

        try:
            yield Wiring(
                state={"realtime": realtime, "gateway": gateway, "sio": sio},
                workers=workers.background(platform, realtime, gateway, settings),
                drain=drain,
                drain_seconds=drain_for,
            )
        finally:
            sockets.gate = None
            await sio.shutdown()

    return kit_app(
        settings,
        prefix=PREFIX,
        title="Deepiri websocket-service",
        description=(
            "Socket.IO delivery of the platform's events (WebSocket transport at /socket.io/) "
            "and presence. The Socket.IO protocol is documented in "
            "docs/services/websocket-service.md; this document covers the HTTP API."
        ),
        route_handlers=ROUTES,
        dependencies={"service": from_state("realtime")},
        setup=setup,
        mounts={ENGINE_IO_PATH: sockets, PREFIX: sockets},
    )
