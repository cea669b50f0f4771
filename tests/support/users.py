"""user-service's test helpers: the test clients it is configured with, and steps that act as
a person would (register, read the mail event, sign in through the form)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from litestar import Litestar

from deepiri_kit.contracts.tasks import Difficulty, Kind, TaskCompleted
from deepiri_kit.events import Envelope, event_envelope
from infra import free_port
from support.processes import ServiceProcess, ServiceProcesses
from support.streams import published
from support.tokens import ISSUER

PREFIX = "/api/users"
STREAM = "events.users"
PASSWORD = "correct horse battery staple"
OAUTH = f"{PREFIX}/oauth"
SCOPE = "openid profile email offline_access users:read"


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


def start_user_service(
    service_process: ServiceProcesses, clients: list[dict[str, Any]], **env: str
) -> ServiceProcess:
    """user-service as a real process, the issuer of its own URL, with ``clients`` seeded.
    Other services trust it with :func:`trusting`."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}{PREFIX}"
    return service_process(
        "user-service",
        port=port,
        JWT_ISSUER=issuer,
        JWKS_URL=f"{issuer}/oauth/jwks",
        OAUTH_CLIENTS=json.dumps(clients),
        **env,
    )


def trusting(user_service: ServiceProcess) -> dict[str, str]:
    """The environment that makes a service verify ``user_service``'s tokens (and no others)."""
    return {
        "JWT_ISSUER": user_service.env["JWT_ISSUER"],
        "JWKS_URL": user_service.env["JWKS_URL"],
    }


def through_the_login_page(
    browser: httpx.Client, authorization_url: str, email: str, password: str
) -> str:
    """What a person does with a first-party client's authorization URL: open it, sign in on
    the login page it leads to (CSRF and ``next`` fields as served), and land back on the
    client's redirect URI, which is returned (no consent page for first-party clients)."""
    to_login = browser.get(authorization_url)
    assert to_login.status_code == 303, to_login.text
    page = browser.get(to_login.headers["location"])
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    next_ = re.search(r'name="next" value="([^"]+)"', page.text)
    assert csrf, "no CSRF field on the login page"
    assert next_, "no next field on the login page"
    signed = browser.post(
        f"{PREFIX}/login",
        data={
            "csrf": csrf.group(1),
            "next": next_.group(1).replace("&amp;", "&"),
            "email": email,
            "password": password,
        },
    )
    assert signed.status_code == 303, signed.text
    back = browser.get(signed.headers["location"])
    assert back.status_code == 302, back.text
    return str(back.headers["location"])


def client_of(app: Litestar, address: str = "192.0.2.10") -> httpx.AsyncClient:
    """A caller of ``app`` from ``address`` (as uvicorn would have resolved it)."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def events(redis: Any, event_type: str | None = None) -> list[Envelope]:
    """What user-service published on ``events.users`` (only ``event_type``'s if given)."""
    return await published(redis, STREAM, event_type)


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


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(response: httpx.Response) -> dict[str, str]:
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def authorize(
    client: httpx.AsyncClient, client_id: str = "web", **params: str
) -> httpx.Response:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "xyz",
        **params,
    }
    return await client.get(f"{OAUTH}/authorize", params={k: v for k, v in query.items() if v})


async def signed_in(client: httpx.AsyncClient, redis: Any) -> str:
    user_id = await register(client, redis)
    assert (await sign_in(client, "alice@example.com")).status_code == 303
    return user_id


async def code_for(
    client: httpx.AsyncClient, client_id: str = "web", **params: str
) -> tuple[str, str]:
    verifier, challenge = pkce()
    response = await authorize(
        client, client_id, code_challenge=challenge, code_challenge_method="S256", **params
    )
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(REDIRECT + "?")
    got = query_of(response)
    assert got["state"] == "xyz"
    return got["code"], verifier


async def exchange(
    client: httpx.AsyncClient, code: str, verifier: str, client_id: str = "web"
) -> httpx.Response:
    return await client.post(
        f"{OAUTH}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
        },
    )


async def refresh(client: httpx.AsyncClient, token: str, client_id: str = "web") -> httpx.Response:
    return await client.post(
        f"{OAUTH}/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id},
    )


async def introspect(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post(
        f"{OAUTH}/introspect", data={"token": token}, auth=("svc", SERVICE_SECRET)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def verified(client: httpx.AsyncClient, token: str, audience: str) -> dict[str, Any]:
    """Checked with PyJWT against the published JWKS: another library than the one that signed."""
    keys = jwt.PyJWKSet.from_dict((await client.get(f"{OAUTH}/jwks")).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=audience, issuer=ISSUER
    )
    return claims


def task_completed(
    user_id: str,
    *,
    task_id: str = "t1",
    kind: Kind = "todo",
    difficulty: Difficulty = "hard",
    tags: list[str] | None = None,
    skill_ids: list[str] | None = None,
    event_id: str | None = None,
) -> Envelope:
    """A ``task.completed`` as task-service publishes it (the kit's contract)."""
    event = TaskCompleted(
        task_id=task_id,
        completion_id=f"{task_id}:{event_id}" if kind != "todo" else None,
        kind=kind,
        difficulty=difficulty,
        completed_at=datetime.now(UTC),
        tags=tags or [],
        skill_ids=skill_ids or [],
    )
    return event_envelope(event, source="task-service", user_id=user_id, event_id=event_id)
