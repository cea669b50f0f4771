"""Fixtures for user-service's tests: the app on the harness's servers, and helpers that
act as a person would (register, read the mail event, sign in through the form)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar import Litestar

from deepiri_kit import load_settings
from deepiri_kit.events import Envelope
from user_service.app import create_app
from user_service.settings import UserSettings

PREFIX = "/api/users"
STREAM = "events.users"
PASSWORD = "correct horse battery staple"


REDIRECT = "http://127.0.0.1:8765/callback"
SERVICE_SECRET = "service-client-secret-for-tests-only"
TEST_CLIENTS = [
    # A third-party app: asks for consent.
    {"client_id": "app", "name": "Some App", "redirect_uris": [REDIRECT, REDIRECT + "2"]},
    # Deepiri's own web app: no consent page.
    {
        "client_id": "web",
        "name": "Deepiri",
        "redirect_uris": [REDIRECT],
        "scope": "openid profile email offline_access users:read users:write tasks:read admin",
        "first_party": True,
    },
    # A terminal: the device grant.
    {
        "client_id": "cli",
        "name": "Deepiri CLI",
        "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
        "scope": "openid profile offline_access users:read tasks:read",
        "first_party": True,
    },
    # A service: client credentials, and introspection.
    {
        "client_id": "svc",
        "name": "A service",
        "secret": SERVICE_SECRET,
        "grant_types": ["client_credentials"],
        "scope": "users:read tasks:read",
    },
]


@pytest.fixture
def user_settings(service_env: dict[str, Any]) -> UserSettings:
    # A short answer floor keeps the suite quick; test_signin checks the real one.
    return load_settings(
        UserSettings,
        {},
        **service_env,
        oauth_clients=json.dumps(TEST_CLIENTS),
        answer_floor_ms=20,
    )


@pytest.fixture
async def app(user_settings: UserSettings, redis: Any) -> AsyncIterator[Litestar]:
    """The app in the test's own event loop with its lifespan (and so its workers) running,
    started after ``redis`` has emptied the harness's Redis."""
    app = create_app(user_settings)
    async with app.lifespan():
        yield app


def client_of(app: Litestar, address: str = "192.0.2.10") -> httpx.AsyncClient:
    """A caller of ``app`` from ``address`` (as uvicorn would have resolved it)."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as c:
        yield c


async def events(redis: Any, event_type: str | None = None) -> list[Envelope]:
    found = [Envelope.decode(f["envelope"]) for _, f in await redis.xrange(STREAM)]
    return [e for e in found if event_type is None or e.type == event_type]


async def register(
    client: httpx.AsyncClient,
    redis: Any,
    email: str = "alice@example.com",
    password: str = PASSWORD,
    **extra: Any,
) -> str:
    """Registers and returns the new account's id (read from its user.registered event)."""
    before = len(await events(redis, "user.registered"))
    body = {"email": email, "password": password, "display_name": "Alice", **extra}
    response = await client.post(f"{PREFIX}/register", json=body)
    assert response.status_code == 202, response.text
    registered = await events(redis, "user.registered")
    assert len(registered) == before + 1, "no new account"
    return str(registered[-1].user_id)


def secret_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def mailed_secret(redis: Any, event_type: str, user_id: str) -> str:
    mails = [e for e in await events(redis, event_type) if e.user_id == user_id]
    assert mails, f"no {event_type} for {user_id}"
    return secret_of(mails[-1].data["link"])


def csrf_field(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, next: str = ""
) -> httpx.Response:
    page = await client.get(f"{PREFIX}/login", params={"next": next} if next else None)
    form = {"csrf": csrf_field(page.text), "email": email, "password": password, "next": next}
    return await client.post(f"{PREFIX}/login", data=form)
