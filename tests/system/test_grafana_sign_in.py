"""Grafana's sign-in with Deepiri accounts, as the chart configures it, against user-service as
a real process: the `grafana` client and its secret come from the rendered identity Secret,
every Grafana setting (authorize/token/userinfo paths, scopes, PKCE, callback under its root
URL) from the rendered Deployment, and Authlib's OAuth client plays Grafana's part of the code
flow. Grafana itself is not run (no image for it is built on the local cluster); this is
the conversation it would have."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from support.charts import by_name, helm_template, load_docs
from support.processes import ROOT, ServiceProcess, ServiceProcesses
from support.users import start_user_service, through_the_login_page

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
    chart: tuple[dict[str, str], str], service_process: ServiceProcesses
) -> ServiceProcess:
    return start_user_service(service_process, json.loads(chart[1]))


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
        callback = through_the_login_page(browser, url, email, PASSWORD)
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
