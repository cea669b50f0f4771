"""The Litestar app, built from the kit: routes, dependencies, set-up, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from litestar import Litestar

from deepiri_kit import Platform, Wiring, from_state, load_settings, retry_startup
from deepiri_kit import create_app as kit_app
from user_service import workers
from user_service.api import ROUTES
from user_service.api.web import Web
from user_service.service.accounts import AccountService, Links
from user_service.service.passwords import Passwords
from user_service.service.sessions import Sessions
from user_service.service.wiring import Services
from user_service.settings import UserSettings
from user_service.store.accounts import AccountStore
from user_service.store.sessions import SessionStore
from user_service.store.throttle import Throttle

PREFIX = "/api/users"


async def build(platform: Platform) -> Services:
    """The use cases on this platform's clients; the app and the CLI both start here."""
    settings = platform.settings
    assert isinstance(settings, UserSettings)
    bus = platform.require_bus()
    redis = platform.require_redis()
    store = AccountStore(platform.require_mongo(), bus)
    await retry_startup(store.ensure_indexes, what="account indexes")
    passwords = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        max_concurrent=settings.max_concurrent_hashes,
    )
    sessions = Sessions(SessionStore(redis), timedelta(hours=settings.session_hours))
    accounts = AccountService(
        store,
        passwords,
        Throttle(redis),
        bus,
        Links(settings.jwt_issuer),
        verification_lifetime=timedelta(minutes=settings.verification_token_minutes),
        reset_lifetime=timedelta(minutes=settings.reset_token_minutes),
    )
    accounts.revokers.append(sessions.end_all)
    return Services(accounts=accounts, sessions=sessions)


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    settings = platform.settings
    services = await build(platform)
    web = Web(
        prefix=PREFIX,
        secure_cookies=settings.production,
        session_seconds=int(services.sessions.lifetime.total_seconds()),
    )
    yield Wiring(
        state={"accounts": services.accounts, "sessions": services.sessions, "web": web},
        workers=workers.background(platform, services),
    )


def create_app(settings: UserSettings | None = None) -> Litestar:
    return kit_app(
        settings or load_settings(UserSettings),
        prefix=PREFIX,
        title="Deepiri user-service",
        description="Accounts and the OAuth 2.0 / OpenID Connect provider.",
        route_handlers=ROUTES,
        dependencies={
            "accounts": from_state("accounts"),
            "sessions": from_state("sessions"),
            "web": from_state("web"),
        },
        setup=setup,
    )
