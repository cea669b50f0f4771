"""Devices that receive push: what a registration must look like, and what a push says
(pure)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from deepiri_kit.errors import Invalid
from notification_service.domain.notifications import Notification

Provider = Literal["fcm", "apns"]
DevicePlatform = Literal["android", "ios", "web"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
PLATFORMS: tuple[DevicePlatform, ...] = get_args(DevicePlatform)
# APNs device tokens are hex (32 bytes today; Apple says the length may grow).
APNS_TOKEN = re.compile(r"^[0-9a-f]{64,200}$")
# FCM registration tokens: URL-safe characters and colons, far shorter than 4 KiB.
FCM_TOKEN = re.compile(r"^[A-Za-z0-9_:\-]{20,4096}$")
APP_VERSION = re.compile(r"^[0-9A-Za-z.+\-]{1,32}$")


@dataclass(frozen=True)
class Device:
    id: str
    user_id: str
    provider: Provider
    platform: DevicePlatform
    token: str
    app_version: str
    registered_at: datetime


def device_id(provider: str, token: str) -> str:
    """One device per token: registering a token again (by anyone) replaces its record."""
    return hashlib.sha256(f"{provider}:{token}".encode()).hexdigest()[:32]


def new_device(
    *,
    user_id: str,
    provider: str,
    platform: str,
    token: str,
    app_version: str,
    now: datetime,
) -> Device:
    if provider not in PROVIDERS:
        raise Invalid(f"unknown push provider {provider!r}: one of {', '.join(PROVIDERS)}")
    if platform not in PLATFORMS:
        raise Invalid(f"unknown platform {platform!r}: one of {', '.join(PLATFORMS)}")
    if provider == "apns":
        token = token.lower()
        if platform != "ios":
            raise Invalid("APNs tokens belong to iOS devices")
        if not APNS_TOKEN.match(token):
            raise Invalid("an APNs device token is 64 or more hexadecimal digits")
    elif not FCM_TOKEN.match(token):
        raise Invalid("an FCM registration token is 20-4096 URL-safe characters")
    if not APP_VERSION.match(app_version):
        raise Invalid("app_version: 1-32 characters of 0-9 A-Z a-z . + -")
    return Device(
        id=device_id(provider, token),
        user_id=user_id,
        provider=provider,
        platform=platform,
        token=token,
        app_version=app_version,
        registered_at=now,
    )


@dataclass(frozen=True)
class Push:
    """What a phone shows, and the data the app gets (FCM data values are strings)."""

    title: str
    body: str
    data: dict[str, str]
    collapse_id: str


def push_of(n: Notification) -> Push:
    return Push(
        title=n.title,
        body=n.body,
        data={"notification_id": n.id, "kind": n.kind, "event_type": n.event_type},
        collapse_id=n.id,
    )
