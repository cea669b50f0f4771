"""Presence: a user is online while at least one of their sockets, on any pod, has an
unexpired entry; every entry expires unless its pod's heartbeat renews it, so a crashed pod's
users go offline by themselves (no counters that could drift)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

MAX_USERS_PER_QUERY = 200


@dataclass(frozen=True)
class Presence:
    user_id: str
    online: bool
    last_seen: datetime | None  # last heartbeat, connect or disconnect; None: never seen


def presence_of(user_id: str, live_sockets: int, last_seen_ms: int | None) -> Presence:
    seen = None if last_seen_ms is None else datetime.fromtimestamp(last_seen_ms / 1000, UTC)
    return Presence(user_id=user_id, online=live_sockets > 0, last_seen=seen)


def expiry_ms(now_ms: int, ttl_seconds: float) -> int:
    """When a socket's entry stops counting unless renewed."""
    return now_ms + int(ttl_seconds * 1000)


def unique_ids(user_ids: list[str]) -> list[str]:
    """The ids asked for, once each, in the order given."""
    return list(dict.fromkeys(user_ids))


def hidden_from(viewer: str, asked: list[str], friends: set[str]) -> list[str]:
    """Which of ``asked`` the ``viewer`` may not see: presence is shown to friends only (and
    to oneself)."""
    return [user_id for user_id in asked if user_id != viewer and user_id not in friends]
