"""The Litestar app, built from the kit: routes, dependencies, set-up, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote

from litestar import Litestar

from deepiri_kit import Platform, Wiring, from_state, load_settings, retry_startup
from deepiri_kit import create_app as kit_app
from deepiri_kit.events import MongoInbox
from notification_service import workers
from notification_service.api import ROUTES
from notification_service.service import Deliveries, Inbox, Reactions
from notification_service.settings import NotificationSettings
from notification_service.store.channels import RoomEmitter, SmtpRelay
from notification_service.store.notifications import NotificationStore

PREFIX = "/api/notifications"


def redis_url(settings: NotificationSettings) -> str:
    password = f":{quote(settings.redis_password, safe='')}@" if settings.redis_password else ""
    return f"redis://{password}{settings.redis_host}:{settings.redis_port}/{settings.redis_db}"


@dataclass
class Services:
    inbox: Inbox
    deliveries: Deliveries
    reactions: Reactions
    emitter: RoomEmitter


async def build(platform: Platform) -> Services:
    """The use cases on this platform's clients; the app and the CLI both start here."""
    settings = platform.settings
    assert isinstance(settings, NotificationSettings)
    store = NotificationStore(platform.require_mongo())
    await retry_startup(store.ensure_indexes, what="notification indexes")
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
        retry_first=settings.delivery_retry_first_seconds,
        retry_limit=settings.delivery_retry_limit_seconds,
        min_age=settings.delivery_min_age_seconds,
    )
    return Services(Inbox(store), deliveries, Reactions(store, deliveries), emitter)


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    services = await build(platform)
    inbox = MongoInbox(platform.require_mongo()["consumed_events"])
    try:
        yield Wiring(
            state={"service": services.inbox},
            workers=workers.background(platform, services.reactions, services.deliveries, inbox),
        )
    finally:
        await services.emitter.close()


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
