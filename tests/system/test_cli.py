"""The ``deepiri`` command line, run as the installed console script against user-service and
task-service as real processes: ``login`` (the device grant, approved on user-service's
pages by a registered person), ``token`` (used with task-service and user-service, renewed
with the rotated refresh token, never spent twice by two callers at once) and ``logout``
(after which introspection calls both tokens inactive)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.processes import ServiceProcess, ServiceProcesses
from support.users import PREFIX, SERVICE_SECRET, start_user_service, trusting

pytestmark = [pytest.mark.system, pytest.mark.slow]
DEEPIRI = Path(sys.executable).with_name("deepiri")
EMAIL = "kai@example.com"
PASSWORD = "seven green lanterns by the harbour"
CLIENTS = [
    {
        "client_id": "deepiri-cli",
        "name": "Deepiri CLI",
        "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
        "scope": "openid profile offline_access users:read tasks:read tasks:write",
        "first_party": True,
    },
    # A resource server's client, for introspection.
    {
        "client_id": "svc",
        "name": "A service",
        "secret": SERVICE_SECRET,
        "grant_types": ["client_credentials"],
        "scope": "users:read",
    },
]


def deepiri(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEEPIRI_CONFIG_DIR": str(config)}
    return subprocess.run(
        [str(DEEPIRI), *args], env=env, capture_output=True, text=True, timeout=120
    )


def signed_in_person(users: ServiceProcess) -> httpx.Client:
    """A registered person's browser session on user-service's pages."""
    browser = users.client()
    body = {"email": EMAIL, "password": PASSWORD, "display_name": "Kai"}
    assert browser.post(f"{PREFIX}/register", json=body).status_code == 202
    form = {"csrf": csrf_of(browser.get(f"{PREFIX}/login").text), "email": EMAIL}
    signed = browser.post(f"{PREFIX}/login", data={**form, "password": PASSWORD})
    assert signed.status_code == 303, signed.text
    return browser


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def approve(browser: httpx.Client, verification_uri: str, user_code: str) -> None:
    """What the person does: open the URL, type the code, press Allow."""
    page = browser.get(verification_uri, params={"user_code": user_code})
    assert page.status_code == 200, page.text
    assert "Deepiri CLI" in page.text
    done = browser.post(
        f"{PREFIX}/device",
        data={"csrf": csrf_of(page.text), "user_code": user_code, "decision": "allow"},
    )
    assert done.status_code == 200, done.text
    assert "return to your device" in done.text


def introspect(users: ServiceProcess, token: str) -> bool:
    response = httpx.post(
        f"{users.url}{PREFIX}/oauth/introspect", data={"token": token}, auth=("svc", SERVICE_SECRET)
    )
    assert response.status_code == 200, response.text
    active: bool = response.json()["active"]
    return active


def stored(config: Path) -> dict[str, str]:
    token: dict[str, str] = json.loads((config / "credentials.json").read_text())["token"]
    return token


def age_the_access_token(config: Path) -> None:
    """As if its ten minutes had passed: the next ``deepiri token`` must renew it."""
    path = config / "credentials.json"
    credentials = json.loads(path.read_text())
    credentials["token"]["expires_at"] = int(time.time()) - 1
    path.write_text(json.dumps(credentials))


def test_login_token_and_logout_against_the_real_services(
    service_process: ServiceProcesses, tmp_path: Path
) -> None:
    users = start_user_service(service_process, CLIENTS)
    tasks = service_process("task-service", **trusting(users))
    issuer = users.env["JWT_ISSUER"]
    config = tmp_path / "config" / "deepiri"
    browser = signed_in_person(users)

    # deepiri login: prints where to go and the code, then waits for the approval.
    login = subprocess.Popen(
        [str(DEEPIRI), "login", "--issuer", issuer, "--scope", "openid users:read tasks:read"],
        env={**os.environ, "DEEPIRI_CONFIG_DIR": str(config)},
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert login.stderr is not None
        first = login.stderr.readline()
        shown = re.search(r"open (\S+) and enter the code (\S+)", first)
        assert shown, first + login.stderr.read()
        assert shown.group(1) == f"{issuer}/device"
        approve(browser, shown.group(1), shown.group(2))
        out, err = login.communicate(timeout=60)
    finally:
        if login.poll() is None:
            login.kill()
    assert login.returncode == 0, err
    assert "Signed in" in err
    assert out == ""

    # The tokens are the owner's alone.
    assert stat.S_IMODE((config / "credentials.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o700

    # deepiri token, as a script uses it: the same token while it is fresh …
    first_token = deepiri(config, "token")
    assert first_token.returncode == 0, first_token.stderr
    access = first_token.stdout.strip()
    assert deepiri(config, "token").stdout.strip() == access
    bearer = {"Authorization": f"Bearer {access}"}
    me = httpx.get(f"{users.url}{PREFIX}/me", headers=bearer)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == EMAIL
    listed = httpx.get(f"{tasks.url}/api/tasks", headers=bearer)
    assert listed.status_code == 200, listed.text

    # … renewed with the refresh token once it is (nearly) expired; the rotated refresh token
    # is stored and the old one is spent.
    old_refresh = stored(config)["refresh_token"]
    age_the_access_token(config)
    renewed = deepiri(config, "token")
    assert renewed.returncode == 0, renewed.stderr
    access = renewed.stdout.strip()
    assert access != first_token.stdout.strip()
    assert stored(config)["refresh_token"] != old_refresh
    assert not introspect(users, old_refresh)
    listed = httpx.get(f"{tasks.url}/api/tasks", headers={"Authorization": f"Bearer {access}"})
    assert listed.status_code == 200, listed.text

    # Two scripts asking at once with an expired token: one renews, the other waits for it
    # and gets the new token (spending the refresh token twice would end the sign-in).
    age_the_access_token(config)
    env = {**os.environ, "DEEPIRI_CONFIG_DIR": str(config)}
    racing = [
        subprocess.Popen([str(DEEPIRI), "token"], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in racing]
    assert [p.returncode for p in racing] == [0, 0]
    assert outputs[0] == outputs[1] == stored(config)["access_token"]
    latest = stored(config)
    assert introspect(users, latest["refresh_token"])
    assert introspect(users, latest["access_token"])

    # deepiri logout: both tokens revoked at the server, the file gone.
    logout = deepiri(config, "logout")
    assert logout.returncode == 0, logout.stderr
    assert not (config / "credentials.json").exists()
    assert not introspect(users, latest["access_token"])
    assert not introspect(users, latest["refresh_token"])
    gone = httpx.get(
        f"{users.url}{PREFIX}/me", headers={"Authorization": f"Bearer {latest['access_token']}"}
    )
    assert gone.status_code == 401
    after = deepiri(config, "token")
    assert after.returncode == 1
    assert "deepiri login" in after.stderr
    assert after.stdout == ""
