"""user-service as a real process (two uvicorn workers) and Authlib's own OAuth client
(httpx) as an independent client: the code flow with PKCE, refresh rotation and client
credentials over HTTP; task-service accepting the tokens through the kit's verifier (PyJWT
against user-service's JWKS); and no secret in any log line."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from infra import RedisServer
from support.processes import ServiceProcess, ServiceProcesses
from support.users import start_user_service, through_the_login_page, trusting

pytestmark = [pytest.mark.system, pytest.mark.slow]
REDIRECT = "http://127.0.0.1:8765/callback"
SECRET = "svc-secret-that-must-never-be-logged-7f3a"
PASSWORD = "a passphrase that must never be logged"
SCOPE = "openid profile email offline_access users:read tasks:read"
CLIENTS = [
    {
        "client_id": "web",
        "name": "Deepiri",
        "redirect_uris": [REDIRECT],
        "scope": SCOPE,
        "first_party": True,
    },
    {
        "client_id": "svc",
        "name": "A service",
        "secret": SECRET,
        "grant_types": ["client_credentials"],
        "scope": "tasks:read users:read",
    },
]


@pytest.fixture
def user_service(service_process: ServiceProcesses) -> ServiceProcess:
    return start_user_service(service_process, CLIENTS, WEB_CONCURRENCY="2", LOG_LEVEL="DEBUG")


@pytest.fixture
def task_service(user_service: ServiceProcess, service_process: ServiceProcesses) -> ServiceProcess:
    """task-service trusting user-service: its JWKS and issuer, nothing else."""
    return service_process("task-service", **trusting(user_service))


def register_and_sign_in(base: str, browser: httpx.Client) -> None:
    body = {"email": "dana@example.com", "password": PASSWORD, "display_name": "Dana"}
    assert browser.post(f"{base}/register", json=body).status_code == 202


def through_the_browser(browser: httpx.Client, authorization_url: str) -> str:
    """What a person does: open the URL, sign in on the page, land on the redirect URI."""
    location = through_the_login_page(browser, authorization_url, "dana@example.com", PASSWORD)
    assert location.startswith(REDIRECT + "?")
    return location


def mailed_links(redis_server: RedisServer) -> list[str]:
    """The links in the mail events (their secrets exist nowhere else in clear)."""
    import redis

    client = redis.Redis(port=redis_server.port, decode_responses=True)
    try:
        entries = client.xrange("events.users")
    finally:
        client.close()
    links = []
    for _, fields in entries:
        data = json.loads(fields["envelope"])["data"]
        if "link" in data and data.get("email") == "dana@example.com":  # Redis is shared
            links.append(data["link"].rsplit("=", 1)[1])
    return links


def test_authlib_client_code_flow_refresh_and_client_credentials(
    user_service: ServiceProcess, task_service: ServiceProcess, redis_server: RedisServer
) -> None:
    base = f"{user_service.url}/api/users"
    meta = httpx.get(f"{base}/.well-known/openid-configuration").json()
    browser = httpx.Client(base_url=user_service.url)
    register_and_sign_in(base, browser)

    oauth = OAuth2Client(
        client_id="web",
        redirect_uri=REDIRECT,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(16)
    )
    redirected = through_the_browser(browser, url)
    token = oauth.fetch_token(
        meta["token_endpoint"], authorization_response=redirected, code_verifier=verifier
    )
    assert {"access_token", "refresh_token", "id_token", "expires_at"} <= set(token)
    secrets_seen: list[str] = [token["access_token"], token["refresh_token"]]
    secrets_seen.append(dict(httpx.URL(redirected).params)["code"])

    # Authlib's client calls the API with the token …
    me = oauth.get(f"{base}/me").json()
    assert me["email"] == "dana@example.com"
    # … and task-service accepts the same token, verified with the kit against our JWKS.
    tasks = httpx.get(
        f"{task_service.url}/api/tasks",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert tasks.status_code == 200, tasks.text

    # Refresh rotation, driven by the client library.
    old_refresh = token["refresh_token"]
    renewed = oauth.refresh_token(meta["token_endpoint"], refresh_token=old_refresh)
    assert renewed["refresh_token"] != old_refresh
    secrets_seen += [renewed["access_token"], renewed["refresh_token"]]
    with pytest.raises(OAuthError) as reuse:
        oauth.refresh_token(meta["token_endpoint"], refresh_token=old_refresh)
    assert reuse.value.error == "invalid_grant"
    with pytest.raises(OAuthError):  # the family is revoked: the newest one is dead too
        oauth.refresh_token(meta["token_endpoint"], refresh_token=renewed["refresh_token"])

    # Client credentials for service-to-service calls.
    service = OAuth2Client(client_id="svc", client_secret=SECRET, scope="tasks:read")
    machine = service.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    secrets_seen.append(machine["access_token"])
    tasks = httpx.get(
        f"{task_service.url}/api/tasks",
        headers={"Authorization": f"Bearer {machine['access_token']}"},
    )
    assert tasks.status_code == 200, tasks.text
    introspected = httpx.post(
        meta["introspection_endpoint"],
        data={"token": token["access_token"]},
        auth=("svc", SECRET),
    ).json()
    assert introspected["active"] is False  # its family was revoked by the reuse above

    # Wrong password and the login page once more, so failures are in the logs as well.
    browser.cookies.clear()
    page = browser.get("/api/users/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    browser.post(
        "/api/users/login",
        data={"csrf": csrf.group(1), "email": "dana@example.com", "password": "wrong " + PASSWORD},
    )

    reset = browser.post("/api/users/password/reset-requests", json={"email": "dana@example.com"})
    assert reset.status_code == 202
    links = mailed_links(redis_server)
    assert len(links) == 2  # the verification mail and the reset mail
    secrets_seen += links

    logs = user_service.logs() + task_service.logs()
    assert "POST /api/users/oauth/token 200" in logs  # the access log is there …
    for secret in [PASSWORD, SECRET, *secrets_seen]:  # … and holds no secret
        assert secret not in logs
    # No password, token or code under any name in any structured line.
    for line in logs.splitlines():
        record: dict[str, Any] = json.loads(line) if line.startswith("{") else {}
        for key in ("password", "refresh_token", "access_token", "code", "client_secret"):
            assert key not in record, line
