"""The Litestar app, built from the kit: routes, dependencies, set-up, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from litestar import Litestar, Request, get

from deepiri_kit import Platform, Wiring, from_state, load_settings, retry_startup
from deepiri_kit import create_app as kit_app
from user_service import workers
from user_service.api import ROUTES
from user_service.api.dev import DevMailboxController
from user_service.api.web import Web
from user_service.domain.throttle import policies
from user_service.service.accounts import AccountService, Links
from user_service.service.activity import ActivityLog
from user_service.service.clients import seed_clients
from user_service.service.keys import KeyRing, parse_kek
from user_service.service.passwords import Passwords
from user_service.service.provider import Provider, metadata
from user_service.service.sessions import Sessions
from user_service.service.skills import SkillTrees, load_tree
from user_service.service.social import SocialGraph
from user_service.service.wiring import Services
from user_service.settings import UserSettings
from user_service.store.accounts import AccountStore
from user_service.store.activity import ActivityStore
from user_service.store.mailbox import StreamReader
from user_service.store.oauth import OAuthStore
from user_service.store.sessions import SessionStore
from user_service.store.skills import SkillStore
from user_service.store.social import SocialStore
from user_service.store.throttle import Throttle

PREFIX = "/api/users"


async def build(platform: Platform) -> Services:
    """The use cases on this platform's clients; the app and the CLI both start here."""
    settings = platform.settings
    assert isinstance(settings, UserSettings)
    bus = platform.require_bus()
    redis = platform.require_redis()
    db = platform.require_mongo()
    store = AccountStore(db, bus)
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
        answer_floor=settings.answer_floor_ms / 1000,
        backoffs=policies(settings.login_lock_base_seconds),
    )
    oauth = OAuthStore(db)
    access = timedelta(seconds=settings.access_token_seconds)
    keys = KeyRing(
        oauth,
        parse_kek(settings.key_encryption_key),
        publish_lead=timedelta(seconds=settings.key_publish_lead_seconds),
        token_lifetime=access + timedelta(seconds=60),
    )
    await retry_startup(keys.ensure, what="signing keys")
    await retry_startup(lambda: seed_clients(oauth, settings.oauth_clients), what="clients")
    provider = Provider(
        store=oauth,
        accounts=store,
        keys=keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_seconds=settings.access_token_seconds,
        refresh_lifetime=timedelta(days=settings.refresh_token_days),
        # Authlib refuses http URIs; the issuer decides: an operator who publishes an http
        # issuer (development, a local cluster without TLS) has chosen plain HTTP.
        insecure_transport=not settings.jwt_issuer.startswith("https://"),
        registration_token=settings.registration_token,
    )
    accounts.revokers.extend([sessions.end_all, provider.revoke_user])
    if settings.deepiri_env == "development":
        accounts.stream_reader = StreamReader(redis)
    skill_store = SkillStore(db, bus)
    await retry_startup(skill_store.ensure_indexes, what="skill indexes")
    skills = SkillTrees(load_tree(settings.skill_tree_file), skill_store)
    accounts.erasers.append(skills.erase)
    social_store = SocialStore(db, bus)
    await retry_startup(social_store.ensure_indexes, what="social indexes")
    social = SocialGraph(social_store)
    accounts.erasers.append(social.erase)

    async def zone_of(user_id: str) -> str:
        return (await accounts.get(user_id)).time_zone

    activity = ActivityLog(
        ActivityStore(
            platform.require_influx(), org=settings.influxdb_org, bucket=settings.influxdb_bucket
        ),
        zone_of,
        # Forever-kept points: look three years back for the best streak.
        streak_days=settings.activity_retention_days or 3 * 366,
    )
    accounts.erasers.append(activity.erase)
    return Services(
        accounts=accounts,
        sessions=sessions,
        provider=provider,
        skills=skills,
        social=social,
        activity=activity,
    )


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    settings = platform.settings
    services = await build(platform)
    web = Web(
        prefix=PREFIX,
        # Secure whenever the site is served over https (production is; a local cluster
        # without TLS is not, and its browsers would drop a Secure cookie).
        secure_cookies=settings.jwt_issuer.startswith("https://"),
        session_seconds=int(services.sessions.lifetime.total_seconds()),
    )
    yield Wiring(
        state={
            "accounts": services.accounts,
            "sessions": services.sessions,
            "provider": services.provider,
            "skills": services.skills,
            "social": services.social,
            "activity": services.activity,
            "web": web,
            # Our own tokens are verified in process (the kit's verifier on our key ring,
            # then the JWKS), and a revoked grant stops working here at once.
            "token_verifier": platform.tokens.local_first(
                services.provider.own_keys, revoked=services.provider.access_revoked
            ),
        },
        workers=workers.background(platform, services),
        # A keyed unlock or social change stamps the log link that commits it (deepiri_kit.idempotency).
        stamped=[services.skills.store.links, services.social.store.links],
    )


@get(
    "/.well-known/oauth-authorization-server/api/users",
    opt={"public": True},
    include_in_schema=False,
)
async def rfc8414_metadata(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """RFC 8414 §3: the metadata URL for an issuer with a path inserts the well-known
    segment before the path."""
    provider: Provider = request.app.state.provider
    return metadata(provider.issuer)


def create_app(settings: UserSettings | None = None) -> Litestar:
    settings = settings or load_settings(UserSettings)
    load_tree(settings.skill_tree_file)  # a bad skill tree refuses to start, naming the problem
    # The dev mailbox shows sign-in links: development only, never tests or production.
    dev = [DevMailboxController] if settings.deepiri_env == "development" else []
    return kit_app(
        settings,
        prefix=PREFIX,
        title="Deepiri user-service",
        description=(
            "Accounts, the OAuth 2.0 / OpenID Connect provider, skill trees, the social graph "
            "and activity time-series."
        ),
        route_handlers=[*ROUTES, *dev],
        dependencies={
            "accounts": from_state("accounts"),
            "sessions": from_state("sessions"),
            "provider": from_state("provider"),
            "skills": from_state("skills"),
            "social": from_state("social"),
            "activity": from_state("activity"),
            "web": from_state("web"),
        },
        setup=setup,
        extra_routes=[rfc8414_metadata],
    )
