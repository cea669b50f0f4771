"""When each channel delivers a notification (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from notification_service.domain.preferences import (
    CHANNELS,
    Channel,
    Kind,
    Preferences,
    channels_for,
    quiet_until,
    zone,
)


@dataclass(frozen=True)
class Planned:
    channel: Channel
    not_before: datetime


def plan(
    kind: Kind,
    prefs: Preferences,
    *,
    now: datetime,
    profile_zone: str | None,
    available: Iterable[Channel] = CHANNELS,
) -> list[Planned]:
    """The deliveries a notification of ``kind`` gets: the channels the user wants (and the
    service can use), in-app at once (the app is open or it is not: nothing buzzes), push and
    email held until the user's quiet hours end. Account mail ignores quiet hours: the user
    just asked for it."""
    wanted = channels_for(prefs, kind) & frozenset(available)
    tz = zone(prefs.time_zone or profile_zone or "UTC")
    held = None if kind == "account" else quiet_until(now, tz, prefs.quiet_hours)
    return [
        Planned(c, now if c == "in_app" or held is None else held) for c in CHANNELS if c in wanted
    ]
