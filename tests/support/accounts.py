"""People with real tokens for the system tests: user-service as a real process, one per test
session (the ``accounts`` fixture), which every other service started by the ``services``
fixture trusts — its issuer and JWKS, nothing else.

A person is registered through user-service's API, signs in through its login form and
gets an access token with the authorization code flow and PKCE, exchanged by Authlib's
OAuth client (an independent implementation): what Deepiri's web app does. The local test
issuer (``support.tokens``) stays for unit and integration tests.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from support.processes import ServiceProcess, ServiceProcesses
from support.users import PASSWORD, PREFIX, REDIRECT, start_user_service, trusting

# What a person's token may carry: every user-facing scope of the services under test.
PERSON_SCOPES = (
    "openid profile users:read users:write tasks:read tasks:write "
    "gamification:read gamification:write notifications:read notifications:write "
    "challenges:read challenges:write"
)
# What a service's own token (client credentials) may carry, admin routes included,
# user-service's social graph (what gamification-service rebuilds friends' boards from) and
# ai-service (what challenge-service generates with).
SERVICE_SCOPES = (
    "tasks:read tasks:write gamification:read gamification:write gamification:admin ratings:write"
    " social:read challenges:read challenges:write agent:invoke"
)
WEB = "deepiri-web-tests"
SERVICE = "deepiri-service-tests"
SERVICE_SECRET = "service-client-secret-for-tests-only"
CLIENTS = [
    {
        "client_id": WEB,
        "name": "Deepiri",
        "redirect_uris": [REDIRECT],
        "scope": PERSON_SCOPES,
        "first_party": True,  # no consent page, as for Deepiri's own web app
    },
    {
        "client_id": SERVICE,
        "name": "A service",
        "secret": SERVICE_SECRET,
        "grant_types": ["client_credentials"],
        "scope": SERVICE_SCOPES,
    },
]
# Tests outlast the default 10 minutes; a short answer floor keeps sign-ups quick
# (tests/user checks the real one).
ENV = {
    "ACCESS_TOKEN_SECONDS": "7200",
    "ANSWER_FLOOR_MS": "20",
    # It shares the bus with the user-service each test starts (and tests/user's app): in
    # the default group it would take their task.completed events, and their skill XP.
    "CONSUMER_GROUP": "user-service-sign-in",
    # Every test empties the Redis this session-long process shares; its bus guard would take
    # each emptying for a lost Redis and replay its recent account events (user.registered…)
    # into the streams of whichever test runs next. tests/user and test_bus_loss prove the
    # guard on their own services.
    "BUS_GUARD_INTERVAL_SECONDS": "86400",
}


@dataclass
class Person:
    """Someone with an account at the real user-service and an access token from it."""

    id: str
    email: str
    name: str
    token: str
    accounts: Accounts = field(repr=False)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def delete(self) -> httpx.Response:
        """``DELETE /api/users/me``: the person deletes their account."""
        return httpx.delete(
            f"{self.accounts.base}/me", headers=self.headers(), timeout=self.accounts.timeout
        )


class Accounts:
    """user-service, started on first use; :meth:`person` hands out people with tokens."""

    timeout = 30.0

    def __init__(self, processes: ServiceProcesses) -> None:
        self.processes = processes

    @cached_property
    def service(self) -> ServiceProcess:
        return start_user_service(self.processes, CLIENTS, **ENV)

    @property
    def base(self) -> str:
        return f"{self.service.url}{PREFIX}"

    def trust(self) -> dict[str, str]:
        """The environment that makes a service verify this user-service's tokens."""
        return trusting(self.service)

    def person(self, name: str = "Alice", scopes: str = PERSON_SCOPES) -> Person:
        """A new account (a unique address), signed in, with an access token for ``scopes``."""
        email = f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}-{uuid.uuid4().hex[:12]}@example.com"
        with httpx.Client(base_url=self.service.url, timeout=self.timeout) as browser:
            body = {"email": email, "password": PASSWORD, "display_name": name}
            registered = browser.post(f"{PREFIX}/register", json=body)
            assert registered.status_code == 202, registered.text
            _sign_in(browser, email)
            token = self._code_flow(browser, scopes)
            me = browser.get(f"{PREFIX}/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
        return Person(id=me.json()["id"], email=email, name=name, token=token, accounts=self)

    def service_client(self) -> dict[str, str]:
        """The environment that makes a service use the test service client's credentials
        (gamification-service asks user-service's social graph with them)."""
        return {"USER_SERVICE_CLIENT_ID": SERVICE, "USER_SERVICE_CLIENT_SECRET": SERVICE_SECRET}

    def agent_client(self) -> dict[str, str]:
        """The environment that makes challenge-service fetch its ai-service token from this
        user-service as the test service client (which may carry ``agent:invoke``)."""
        return {
            "TOKEN_URL": f"{self.base}/oauth/token",
            "AGENT_CLIENT_ID": SERVICE,
            "AGENT_CLIENT_SECRET": SERVICE_SECRET,
        }

    def service_token(self, scopes: str = SERVICE_SCOPES) -> str:
        """A service's own access token (client credentials: its subject is its client id),
        fetched by Authlib's client."""
        with OAuth2Client(
            client_id=SERVICE, client_secret=SERVICE_SECRET, scope=scopes, timeout=self.timeout
        ) as oauth:
            token: dict[str, Any] = oauth.fetch_token(
                f"{self.base}/oauth/token", grant_type="client_credentials"
            )
        return str(token["access_token"])

    def _code_flow(self, browser: httpx.Client, scopes: str) -> str:
        """The authorization code flow with PKCE (S256), the code exchanged by Authlib."""
        with OAuth2Client(
            client_id=WEB,
            redirect_uri=REDIRECT,
            scope=scopes,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
            timeout=self.timeout,
        ) as oauth:
            verifier = generate_token(48)
            url, _ = oauth.create_authorization_url(
                f"{self.base}/oauth/authorize", code_verifier=verifier
            )
            answer = browser.get(url)
            assert answer.status_code == 302, answer.text
            landed = answer.headers["location"]
            assert landed.startswith(REDIRECT + "?"), landed
            token: dict[str, Any] = oauth.fetch_token(
                f"{self.base}/oauth/token", authorization_response=landed, code_verifier=verifier
            )
        return str(token["access_token"])


def _sign_in(browser: httpx.Client, email: str) -> None:
    """Through the login form, as a person does: the session cookie stays in ``browser``."""
    page = browser.get(f"{PREFIX}/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, "no CSRF field on the login page"
    form = {"csrf": csrf.group(1), "email": email, "password": PASSWORD, "next": ""}
    signed = browser.post(f"{PREFIX}/login", data=form)
    assert signed.status_code == 303, signed.text
