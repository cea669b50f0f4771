"""The Litestar app, built from the kit: routes, dependencies, set-up, workers."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
from litestar import Litestar

from deepiri_kit import Platform, Wiring, from_state, load_settings, retry_startup
from deepiri_kit import create_app as kit_app
from deepiri_kit.events import MongoInbox
from notification_service import workers
from notification_service.api import ROUTES
from notification_service.domain.devices import Provider
from notification_service.service import Deliveries, Digests, Inbox, Reactions, Sender
from notification_service.settings import NotificationSettings
from notification_service.store.channels import RoomEmitter, SmtpRelay
from notification_service.store.devices import DeviceStore
from notification_service.store.notifications import NotificationStore
from notification_service.store.push import ApnsSender, FcmSender

PREFIX = "/api/notifications"


def redis_url(settings: NotificationSettings) -> str:
    password = f":{quote(settings.redis_password, safe='')}@" if settings.redis_password else ""
    return f"redis://{password}{settings.redis_host}:{settings.redis_port}/{settings.redis_db}"


@dataclass
class Services:
    inbox: Inbox
    deliveries: Deliveries
    reactions: Reactions
    digests: Digests
    emitter: RoomEmitter
    push_http: list[httpx.AsyncClient]

    async def close(self) -> None:
        await self.emitter.close()
        for client in self.push_http:
            await client.aclose()


def push_senders(
    settings: NotificationSettings, fcm_http: httpx.AsyncClient, apns_http: httpx.AsyncClient
) -> dict[Provider, Sender]:
    """The providers whose settings are present (read once, at start)."""
    senders: dict[Provider, Sender] = {}
    if settings.fcm_key_file:
        key = json.loads(Path(settings.fcm_key_file).read_text())
        senders["fcm"] = FcmSender(
            fcm_http,
            # The service-account key names its project; FCM_PROJECT_ID may name another.
            project_id=settings.fcm_project_id or str(key["project_id"]),
            key=key,
            endpoint=settings.fcm_endpoint,
            ca_file=settings.fcm_ca_file,
        )
    if settings.apns_team_id and settings.apns_key_file:
        senders["apns"] = ApnsSender(
            apns_http,
            team_id=settings.apns_team_id,
            key_id=settings.apns_key_id,
            key_pem=Path(settings.apns_key_file).read_text(),
            topic=settings.apns_topic,
            endpoint=settings.apns_endpoint,
        )
    return senders


def trust(ca_file: str) -> ssl.SSLContext | bool:
    """Only the CAs in ``ca_file`` (a PEM bundle), or httpx's default: the public CAs."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


async def build(platform: Platform) -> Services:
    """The use cases on this platform's clients; the app and the CLI both start here."""
    settings = platform.settings
    assert isinstance(settings, NotificationSettings)
    store = NotificationStore(platform.require_mongo(), platform.require_redis())
    devices = DeviceStore(platform.require_mongo())
    await retry_startup(store.ensure_indexes, what="notification indexes")
    await retry_startup(devices.ensure_indexes, what="device indexes")
    timeout = httpx.Timeout(10.0, connect=5.0)
    fcm_http = httpx.AsyncClient(http2=True, timeout=timeout, verify=trust(settings.fcm_ca_file))
    # APNs speaks HTTP/2 only (over TLS, negotiated by ALPN).
    apns_http = httpx.AsyncClient(
        http1=False, http2=True, timeout=timeout, verify=trust(settings.apns_ca_file)
    )
    emitter = RoomEmitter(redis_url(settings), settings.socket_channel)
    relay = SmtpRelay(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        security=settings.smtp_security,
        timeout=settings.smtp_timeout_seconds,
    )
    deliveries = Deliveries(
        store,
        emitter,
        relay,
        devices=devices,
        senders=push_senders(settings, fcm_http, apns_http),
        retry_first=settings.delivery_retry_first_seconds,
        retry_limit=settings.delivery_retry_limit_seconds,
        min_age=settings.delivery_min_age_seconds,
        push_per_hour=settings.push_per_user_per_hour,
    )
    return Services(
        Inbox(store, devices),
        deliveries,
        Reactions(store, deliveries),
        Digests(store, deliveries),
        emitter,
        [fcm_http, apns_http],
    )


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    services = await build(platform)
    inbox = MongoInbox(platform.require_mongo()["consumed_events"])
    try:
        yield Wiring(
            state={"service": services.inbox},
            workers=workers.background(
                platform, services.reactions, services.deliveries, services.digests, inbox
            ),
        )
    finally:
        await services.close()


def create_app(settings: NotificationSettings | None = None) -> Litestar:
    return kit_app(
        settings or load_settings(NotificationSettings),
        prefix=PREFIX,
        title="Deepiri notification-service",
        description=(
            "Notifications: the inbox (unread counts, cursor pages, read / all read, delete), "
            "preferences per type and channel with quiet hours in the user's zone, in-app "
            "delivery to the user's Socket.IO room and account mail through the SMTP relay."
        ),
        route_handlers=ROUTES,
        dependencies={"service": from_state("service")},
        setup=setup,
    )
