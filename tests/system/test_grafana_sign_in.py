"""Grafana's sign-in with Deepiri accounts, as the chart configures it, against user-service as
a real process: the `grafana` client and its secret come from the rendered identity Secret,
every Grafana setting (authorize/token/userinfo paths, scopes, PKCE, callback under its root
URL) from the rendered Deployment, and Authlib's OAuth client plays Grafana's part of the code
flow. Grafana itself is not run (no image for it is built on the local cluster); this is
the conversation it would have."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from infra import FerretDBServer, RedisServer, free_port
from support.charts import by_name, helm_template, load_docs
from support.processes import ROOT, ServiceProcess, harness_env
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.system, pytest.mark.slow]
PASSWORD = "a passphrase for looking at dashboards"


def rendered() -> tuple[dict[str, str], str]:
    """Grafana's environment (plain values) and user-service's OAUTH_CLIENTS, from the chart
    rendered with the kind values."""
    docs = load_docs(helm_template(["values-kind.yaml"]).stdout)
    container = by_name(docs, "Deployment")["deepiri-grafana"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    data = by_name(docs, "Secret")["deepiri-identity-credentials"]["data"]
    env["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"] = base64.b64decode(
        data["grafana-client-secret"]
    ).decode()
    return env, base64.b64decode(data["oauth-clients"]).decode()


@pytest.fixture(scope="module")
def chart() -> tuple[dict[str, str], str]:
    # One render: each one generates the secrets afresh.
    return rendered()


@pytest.fixture
def grafana_env(chart: tuple[dict[str, str], str]) -> dict[str, str]:
    return chart[0]


@pytest.fixture
def user_service(
    chart: tuple[dict[str, str], str],
    tmp_path: Path,
    redis_server: RedisServer,
    mongo_server: FerretDBServer,
    issuer: TokenIssuer,
    db_name: str,
) -> Iterator[ServiceProcess]:
    port = free_port()
    own = f"http://127.0.0.1:{port}/api/users"
    env = {
        **harness_env(redis_server, mongo_server, issuer, f"{db_name}_users"),
        "JWT_ISSUER": own,
        "JWKS_URL": f"{own}/oauth/jwks",
        "OAUTH_CLIENTS": chart[1],
    }
    service = ServiceProcess("user-service", port, env, tmp_path)
    service.start()
    yield service
    service.stop()


def here(url: str, service: ServiceProcess) -> str:
    """A URL of the rendered settings, on the local process (same path and query)."""
    parts = urlsplit(url)
    return f"{service.url}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def grafana_signs_in(env: dict[str, str], service: ServiceProcess, email: str) -> dict[str, Any]:
    """What Grafana's /login/generic_oauth does, then the person in the browser: the claims
    Grafana maps (userinfo from its api_url, and the ID token)."""
    redirect = f"{env['GF_SERVER_ROOT_URL']}/login/generic_oauth"
    grafana = OAuth2Client(
        client_id=env["GF_AUTH_GENERIC_OAUTH_CLIENT_ID"],
        client_secret=env["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"],
        scope=env["GF_AUTH_GENERIC_OAUTH_SCOPES"],
        redirect_uri=redirect,
        code_challenge_method="S256" if env["GF_AUTH_GENERIC_OAUTH_USE_PKCE"] == "true" else None,
    )
    verifier = generate_token(48)
    url, state = grafana.create_authorization_url(
        here(env["GF_AUTH_GENERIC_OAUTH_AUTH_URL"], service), code_verifier=verifier
    )
    with httpx.Client(base_url=service.url, timeout=30) as browser:
        to_login = browser.get(url)
        assert to_login.status_code == 303, to_login.text
        page = browser.get(to_login.headers["location"])
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        next_ = re.search(r'name="next" value="([^"]+)"', page.text)
        assert csrf
        assert next_
        signed = browser.post(
            "/api/users/login",
            data={
                "csrf": csrf.group(1),
                "next": next_.group(1).replace("&amp;", "&"),
                "email": email,
                "password": PASSWORD,
            },
        )
        assert signed.status_code == 303, signed.text
        # A first-party client: no consent page, straight back to Grafana's callback.
        back = browser.get(signed.headers["location"])
        assert back.status_code == 302, back.text
        callback = back.headers["location"]
    assert callback.startswith(redirect + "?"), callback
    token = grafana.fetch_token(
        here(env["GF_AUTH_GENERIC_OAUTH_TOKEN_URL"], service),
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
    )
    info: dict[str, Any] = grafana.get(here(env["GF_AUTH_GENERIC_OAUTH_API_URL"], service)).json()
    id_token = jwt.decode(token["id_token"], options={"verify_signature": False})
    assert id_token["aud"] in ("grafana", ["grafana"])
    assert (id_token["email"], id_token["roles"]) == (info["email"], info["roles"])
    return info


def test_grafana_signs_a_deepiri_account_in_and_maps_its_roles(
    grafana_env: dict[str, str], user_service: ServiceProcess
) -> None:
    email = "grafana-viewer@example.com"
    registered = httpx.post(
        f"{user_service.url}/api/users/register",
        json={"email": email, "password": PASSWORD, "display_name": "Gloria"},
    )
    assert registered.status_code == 202

    info = grafana_signs_in(grafana_env, user_service, email)
    # The claims Grafana reads: its email and name attribute paths, and the roles its
    # role_attribute_path maps (no admin role: Viewer).
    assert grafana_env["GF_AUTH_GENERIC_OAUTH_EMAIL_ATTRIBUTE_PATH"] == "email"
    assert grafana_env["GF_AUTH_GENERIC_OAUTH_NAME_ATTRIBUTE_PATH"] == "name"
    assert (info["email"], info["name"], info["roles"]) == (email, "Gloria", [])

    # An operator makes the account an admin (user-service's CLI); the next sign-in carries it.
    granted = subprocess.run(
        [sys.executable, "-m", "user_service", "grant-role", info["sub"], "admin"],
        env=user_service.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert granted.returncode == 0, granted.stderr
    assert grafana_signs_in(grafana_env, user_service, email)["roles"] == ["admin"]
    assert "contains(roles[*], 'admin')" in grafana_env["GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH"]


def test_a_wrong_grafana_secret_gets_no_token(
    grafana_env: dict[str, str], user_service: ServiceProcess
) -> None:
    response = httpx.post(
        here(grafana_env["GF_AUTH_GENERIC_OAUTH_TOKEN_URL"], user_service),
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "http://x"},
        auth=("grafana", "not-" + grafana_env["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"]),
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
