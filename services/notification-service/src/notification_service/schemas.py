"""Request and response bodies: strict models (unknown fields are a 400) and their shaping
from domain objects."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

import msgspec

from deepiri_kit import Model, Out
from notification_service.domain.devices import Device
from notification_service.domain.notifications import Notification
from notification_service.domain.preferences import CHANNELS, Preferences

# A wall-clock time, 24-hour "HH:MM".
Clock = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class NotificationOut(Out):
    id: str
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    event_type: str

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(
            id=n.id,
            kind=n.kind,
            title=n.title,
            body=n.body,
            data=n.data,
            created_at=n.created_at,
            read_at=n.read_at,
            event_type=n.event_type,
        )


class UnreadOut(Out):
    unread: int


class MarkedOut(Out):
    marked: int
    unread: int


class QuietHoursBody(Model):
    """Local wall-clock times in the user's zone; ``end`` before ``start`` runs over midnight."""

    start: Clock
    end: Clock

    def times(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class DigestBody(Model):
    """A daily digest mail of unread notifications at ``hour`` (0-23) in the user's zone."""

    hour: Annotated[int, msgspec.Meta(ge=0, le=23)]


class PreferencesIn(Model):
    """A change: only the members present are replaced. ``channels`` maps a notification type
    to the channels it should use (types left out keep theirs); ``quiet_hours: null``,
    ``time_zone: null`` and ``digest: null`` clear them."""

    # Names are checked by the rules (an unknown type or channel is a 422): constraints
    # nested in a map do not reach the OpenAPI document. The body's size is bounded anyway.
    channels: dict[str, list[str]] | msgspec.UnsetType = msgspec.UNSET
    quiet_hours: QuietHoursBody | msgspec.UnsetType | None = msgspec.UNSET
    time_zone: Name | msgspec.UnsetType | None = msgspec.UNSET
    digest: DigestBody | msgspec.UnsetType | None = msgspec.UNSET


class QuietHoursOut(Out):
    start: str
    end: str


class DigestOut(Out):
    hour: int


class PreferencesOut(Out):
    channels: dict[str, list[str]]
    quiet_hours: QuietHoursOut | None
    time_zone: str | None
    digest: DigestOut | None

    @classmethod
    def of(cls, prefs: Preferences) -> PreferencesOut:
        quiet = prefs.quiet_hours
        return cls(
            channels={
                kind: [c for c in CHANNELS if c in chs] for kind, chs in prefs.channels.items()
            },
            quiet_hours=None
            if quiet is None
            else QuietHoursOut(
                start=quiet.start.isoformat("minutes"), end=quiet.end.isoformat("minutes")
            ),
            time_zone=prefs.time_zone,
            digest=None if prefs.digest_hour is None else DigestOut(hour=prefs.digest_hour),
        )


class DeviceIn(Model):
    """``provider`` ``fcm`` or ``apns``; ``platform`` ``android``, ``ios`` or ``web``."""

    provider: Name
    platform: Name
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    app_version: Name


class DeviceOut(Out):
    id: str
    provider: str
    platform: str
    token_end: str
    app_version: str
    registered_at: datetime

    @classmethod
    def of(cls, device: Device) -> DeviceOut:
        return cls(
            id=device.id,
            provider=device.provider,
            platform=device.platform,
            token_end=device.token[-6:],
            app_version=device.app_version,
            registered_at=device.registered_at,
        )
