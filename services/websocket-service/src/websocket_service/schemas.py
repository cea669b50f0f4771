"""Request and response bodies of the HTTP API (the Socket.IO payloads are in
events/publish.py)."""

from __future__ import annotations

from datetime import datetime

from deepiri_kit import Out
from websocket_service.domain.presence import Presence


class PresenceOut(Out):
    user_id: str
    online: bool
    last_seen: datetime | None

    @classmethod
    def of(cls, presence: Presence) -> PresenceOut:
        return cls(user_id=presence.user_id, online=presence.online, last_seen=presence.last_seen)
