"""What websocket-service publishes: Socket.IO events to its clients (it writes to no
stream). The payload of every platform event is :class:`ClientEvent`, emitted under the
event's type as the Socket.IO event name (``task.completed``, ``gamification.level_up``…);
the schema is documented in docs/services/websocket-service.md and must stay compatible."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

__all__ = [
    "AUTH_EXPIRED",
    "AUTH_REFRESH",
    "PRESENCE_CHANGED",
    "PRESENCE_FRIENDS",
    "SERVER_SHUTDOWN",
    "AuthExpired",
    "ClientEvent",
    "FriendPresence",
    "FriendsPresence",
    "ServerShutdown",
]

SERVER_SHUTDOWN = "server:shutdown"  # server → client: reconnect (elsewhere)
AUTH_EXPIRED = "auth:expired"  # server → client: the access token expired, socket closed
AUTH_REFRESH = "auth:refresh"  # client → server: a new access token for this socket
PRESENCE_FRIENDS = "presence:friends"  # server → client, on connect: every friend's presence
PRESENCE_CHANGED = "presence:changed"  # server → client: a friend came online / went offline


class ClientEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A platform event as a client receives it."""

    type: str  # the event type, also the Socket.IO event name
    id: str  # the event id: the same event delivered twice has the same id
    occurred_at: datetime  # when it happened (UTC, ISO 8601)
    data: dict[str, Any]  # the event's data as its contract declares it
    traceparent: str | None = None  # W3C trace context of the delivery (one trace per action)


class ServerShutdown(msgspec.Struct, frozen=True, kw_only=True):
    reconnect: bool = True
    reason: str = "server shutting down"


class AuthExpired(msgspec.Struct, frozen=True, kw_only=True):
    reason: str = "token_expired"
    message: str = "the access token expired: connect again with a new one"


class FriendPresence(msgspec.Struct, frozen=True, kw_only=True):
    """A friend's presence (``presence:changed``, and each item of ``presence:friends``)."""

    user_id: str
    online: bool
    last_seen: datetime | None  # None: never seen


class FriendsPresence(msgspec.Struct, frozen=True, kw_only=True):
    friends: list[FriendPresence]
