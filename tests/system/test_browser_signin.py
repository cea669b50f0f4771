"""A person in a real browser (headless Debian chromium, JavaScript off: the pages need none)
signs up, signs in and consents on user-service's own pages, running as a real process, and
lands on the app's redirect URI on loopback with a code; the app (Authlib's client) then
exchanges the code with its PKCE verifier for tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from support.browser import RedirectTarget, chromium
from support.processes import ServiceProcesses
from support.users import PREFIX, start_user_service

pytestmark = [pytest.mark.system, pytest.mark.slow]
SCOPE = "openid profile email offline_access tasks:read"
EMAIL = "robin@example.com"
PASSWORD = "a kettle of hawks over the bay"


def test_a_person_signs_up_signs_in_and_consents_in_a_browser(
    service_process: ServiceProcesses,
) -> None:
    app = RedirectTarget()
    # A third-party app: the person is asked for consent.
    client = {"client_id": "app", "name": "Some App", "redirect_uris": [app.uri], "scope": SCOPE}
    users = start_user_service(service_process, [client])
    meta = httpx.get(f"{users.url}{PREFIX}/.well-known/openid-configuration").json()
    oauth = OAuth2Client(
        client_id="app",
        redirect_uri=app.uri,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = generate_token(48)
    nonce = generate_token(16)
    url, state = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )

    try:
        with chromium() as browser:
            page = browser.new_context(java_script_enabled=False).new_page()
            page.goto(url)
            assert page.title().startswith("Sign in")  # sent to sign in first
            page.get_by_role("link", name="Create an account").click()
            page.get_by_label("Display name").fill("Robin")
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_label("Time zone").fill("Europe/Lisbon")
            page.get_by_role("button", name="Create account").click()
            assert page.title().startswith("Check your mail"), page.content()
            page.get_by_role("link", name="Continue").click()
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            assert page.title().startswith("Allow Some App?"), page.content()
            assert "tasks" in page.locator("ul.scopes").inner_text().lower()
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(f"{app.uri}?*")
            landed = page.url
            assert page.locator("h1").inner_text() == "Signed in"  # the app's own page
    finally:
        app.close()

    assert len(app.landed) == 1  # the browser really came to the app, once
    query = {k: v[0] for k, v in parse_qs(urlsplit(landed).query).items()}
    assert query["state"] == state
    token = oauth.fetch_token(
        meta["token_endpoint"], authorization_response=landed, code_verifier=verifier
    )
    assert {"access_token", "refresh_token", "id_token"} <= set(token)
    assert set(token["scope"].split()) == set(SCOPE.split())
    me = oauth.get(meta["userinfo_endpoint"]).json()
    assert me["email"] == EMAIL
    assert me["name"] == "Robin"
    # The ID token is for this app, this sign-in (the nonce) and this person.
    keys = jwt.PyJWKSet.from_dict(httpx.get(meta["jwks_uri"]).json())
    kid = jwt.get_unverified_header(token["id_token"])["kid"]
    identity = jwt.decode(
        token["id_token"],
        next(k for k in keys.keys if k.key_id == kid).key,
        algorithms=["RS256"],
        audience="app",
        issuer=meta["issuer"],
    )
    assert identity["nonce"] == nonce
    assert identity["sub"] == me["sub"]
    # The code was spent: the same redirect cannot be exchanged again.
    again = httpx.post(
        meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "code_verifier": verifier,
            "redirect_uri": app.uri,
            "client_id": "app",
        },
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
