"""Preferences: which channels each notification type uses, and quiet hours in the user's
own IANA time zone (pure: times in, decisions out)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deepiri_kit.errors import Invalid

Channel = Literal["in_app", "push", "email"]
Kind = Literal[
    "reward", "level_up", "badge", "streak", "challenge", "friend_request", "friend", "account"
]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
KINDS: tuple[Kind, ...] = get_args(Kind)
# Types a user may switch; "account" mail (verification, password reset) always goes out.
CONFIGURABLE: tuple[Kind, ...] = tuple(k for k in KINDS if k != "account")

# Every credit would buzz a phone many times a day: rewards stay in the app by default.
DEFAULT_CHANNELS: Mapping[Kind, frozenset[Channel]] = {
    "reward": frozenset({"in_app"}),
    "level_up": frozenset({"in_app", "push"}),
    "badge": frozenset({"in_app", "push"}),
    "streak": frozenset({"in_app", "push"}),
    "challenge": frozenset({"in_app", "push"}),
    "friend_request": frozenset({"in_app", "push"}),
    "friend": frozenset({"in_app", "push"}),
    "account": frozenset({"email"}),
}


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; Invalid for anything else (a path, a typo, an empty name)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris"
        ) from None


@dataclass(frozen=True)
class QuietHours:
    """A daily window of local wall-clock time, ``start`` included, ``end`` excluded; a
    window whose end is earlier than its start runs over midnight (22:00-07:00)."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise Invalid("quiet hours must not start and end at the same time")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise Invalid("quiet hours are local wall-clock times, without a zone")

    @property
    def over_midnight(self) -> bool:
        return self.end < self.start

    def covers(self, local: time) -> bool:
        if self.over_midnight:
            return local >= self.start or local < self.end
        return self.start <= local < self.end


@dataclass(frozen=True)
class Preferences:
    channels: Mapping[Kind, frozenset[Channel]] = field(default_factory=lambda: DEFAULT_CHANNELS)
    quiet_hours: QuietHours | None = None
    # None: the zone user-service last announced for the user (or UTC).
    time_zone: str | None = None
    # The local hour (0-23) of the daily digest mail of unread notifications; None: no digest.
    digest_hour: int | None = None


def with_changes(
    current: Preferences,
    *,
    channels: Mapping[str, list[str]] | None = None,
    quiet_hours: QuietHours | Literal["keep"] | None = "keep",
    time_zone: str | Literal["keep"] | None = "keep",
    digest_hour: int | Literal["keep"] | None = "keep",
) -> Preferences:
    """``current`` with the types named in ``channels`` replaced (others kept), and the quiet
    hours / zone replaced unless ``"keep"``; Invalid for an unknown type or channel."""
    merged: dict[Kind, frozenset[Channel]] = dict(current.channels)
    for kind, wanted in (channels or {}).items():
        if kind not in CONFIGURABLE:
            raise Invalid(f"unknown notification type {kind!r}: one of {', '.join(CONFIGURABLE)}")
        unknown = sorted(set(wanted) - set(CHANNELS))
        if unknown:
            raise Invalid(f"unknown channel {unknown[0]!r}: one of {', '.join(CHANNELS)}")
        merged[kind] = frozenset(c for c in CHANNELS if c in wanted)
    if time_zone not in ("keep", None):
        zone(time_zone)
    if isinstance(digest_hour, int) and not 0 <= digest_hour <= 23:
        raise Invalid("the digest hour is a local hour, 0-23")
    return Preferences(
        channels=merged,
        quiet_hours=current.quiet_hours if quiet_hours == "keep" else quiet_hours,
        time_zone=current.time_zone if time_zone == "keep" else time_zone,
        digest_hour=current.digest_hour if digest_hour == "keep" else digest_hour,
    )


def quiet_until(now: datetime, tz: ZoneInfo, hours: QuietHours | None) -> datetime | None:
    """When the quiet hours that cover ``now`` end (UTC), or None if they do not cover it.

    Computed on the local calendar: the end is that wall-clock time on the day the window
    closes, so a window survives DST changes (22:00-07:00 stays 22:00-07:00 local). An end
    inside a spring-forward gap is read with the offset before the jump, as PEP 495 does
    (02:30 that never happens → 03:30 new time)."""
    if hours is None:
        return None
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    local = now.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    if not hours.covers(wall):
        return None
    day = local.date()
    if hours.over_midnight and wall >= hours.start:
        day += timedelta(days=1)
    end = datetime.combine(day, hours.end, tzinfo=tz)
    return max(end.astimezone(UTC), now.astimezone(UTC))


def channels_for(prefs: Preferences, kind: Kind) -> frozenset[Channel]:
    if kind == "account":
        return DEFAULT_CHANNELS["account"]
    return prefs.channels.get(kind, DEFAULT_CHANNELS[kind])
