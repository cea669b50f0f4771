"""Helpers of the e2e suite: kubectl/helm calls, the release under test, the callers that
sign in with its user-service, waiting."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from authlib.integrations.httpx_client import OAuth2Client

NAMESPACE = "deepiri-e2e"
RELEASE = "deepiri"
CHART = Path(__file__).resolve().parents[2] / "charts" / "deepiri"
# The scopes the suite's callers use; people also read their challenges and their inbox.
SCOPES = "tasks:read tasks:write gamification:read gamification:write"
PERSON_SCOPES = (
    f"openid profile users:read {SCOPES} challenges:read challenges:write "
    "notifications:read notifications:write"
)
# The terminal client the chart seeds (values: identity.clients).
CLI = "deepiri-cli"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PASSWORD = "e2e passphrase for a real account"
# Load generators act as this many service clients (each its own subject, so per-caller
# rate limits do not throttle the load itself).
MACHINES = 16
VOLUMES = 6


def run(
    *args: str, check: bool = True, timeout: float = 900, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, input=stdin, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def kubectl(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return run("kubectl", "-n", NAMESPACE, *args, **kw)


def kube_json(*args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def apply(manifest: dict[str, Any] | list[dict[str, Any]]) -> None:
    items = manifest if isinstance(manifest, list) else [manifest]
    run(
        "kubectl",
        "apply",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )


def eventually(
    check: Callable[[], Any], timeout: float = 120.0, interval: float = 1.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout:.0f}s (last: {last!r})")


def probe_pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A long-lived pod (base image, restricted) the suite execs into to call from inside."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"e2e": "probe", **labels}},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "securityContext": {
                "runAsUser": 10001,
                "runAsNonRoot": True,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": os.environ["DEEPIRI_E2E_BASE_IMAGE"],
                    "command": ["python3", "-c", "import time; time.sleep(3600)"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}},
                }
            ],
        },
    }


@dataclass
class Caller:
    """Someone holding an access token from user-service: a person or a service client."""

    subject: str
    token: str
    expires_at: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, f"no CSRF field in the page: {html[:300]}"
    return match.group(1)


def sign_in(
    browser: httpx.Client, email: str, password: str = PASSWORD, page: str = "/api/users/login"
) -> httpx.Response:
    """Through the sign-in form, as a browser: the page (CSRF cookie and field, and the
    `next` it was opened with), then the post."""
    form_page = browser.get(page)
    assert form_page.status_code == 200, form_page.text
    landing = re.search(r'name="next" value="([^"]*)"', form_page.text)
    next_ = landing.group(1).replace("&amp;", "&") if landing else ""
    form = {"csrf": csrf_of(form_page.text), "email": email, "password": password, "next": next_}
    return browser.post("/api/users/login", data=form)


def device_sign_in(ingress: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """RFC 8628 as a person at a terminal does it, every request through the Ingress: the
    terminal starts the device authorization and shows the verification URI; the person
    opens it in a browser, signs in and approves; the terminal polls the token endpoint."""
    with (
        httpx.Client(base_url=ingress, timeout=30) as terminal,
        httpx.Client(base_url=ingress, timeout=30) as browser,
    ):
        meta = terminal.get("/api/users/.well-known/openid-configuration").json()
        started = terminal.post(
            meta["device_authorization_endpoint"],
            data={"client_id": CLI, "scope": PERSON_SCOPES},
        )
        assert started.status_code == 200, started.text
        device = started.json()
        # What the terminal prints is the public page, not an address inside the cluster.
        assert device["verification_uri"] == f"{meta['issuer']}/device", device
        # The browser opens the page the terminal printed, and is sent to sign in first.
        landing = browser.get(device["verification_uri"], params={"user_code": device["user_code"]})
        assert landing.status_code == 303, landing.text
        assert "/api/users/login?next=" in landing.headers["location"]
        signed = sign_in(browser, email, password, page=landing.headers["location"])
        assert signed.status_code == 303, signed.text
        page = browser.get(device["verification_uri"], params={"user_code": device["user_code"]})
        assert page.status_code == 200, page.text
        decided = browser.post(
            device["verification_uri"],
            data={
                "csrf": csrf_of(page.text),
                "user_code": device["user_code"],
                "decision": "allow",
            },
        )
        assert decided.status_code == 200, decided.text
        deadline = time.monotonic() + 120
        interval = float(device.get("interval", 5))
        while True:
            polled = terminal.post(
                meta["token_endpoint"],
                data={
                    "grant_type": DEVICE_GRANT,
                    "device_code": device["device_code"],
                    "client_id": CLI,
                },
            )
            body: dict[str, Any] = polled.json()
            if polled.status_code == 200:
                # The client may ask for all of them: a scope it lacks would be dropped
                # from the token silently (and its API answer 403).
                claims = jwt.decode(body["access_token"], options={"verify_signature": False})
                assert set(claims["scope"].split()) == set(PERSON_SCOPES.split()), claims
                return body
            assert body.get("error") in ("authorization_pending", "slow_down"), body
            assert time.monotonic() < deadline, f"no token from the device grant: {body}"
            interval += 5 if body["error"] == "slow_down" else 0
            time.sleep(interval)


@dataclass
class Release:
    ingress: str
    values: list[str]
    machines: dict[int, Caller] = field(default_factory=dict)
    people: dict[str, Caller] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def helm(
        self, *args: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        return run("helm", "--namespace", NAMESPACE, *args, check=check, timeout=timeout)

    def upgrade(self, *sets: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """helm upgrade with this cluster's values files plus --set overrides, --wait, and
        then until the Ingress controller routes every public prefix."""
        args = ["upgrade", "--install", RELEASE, str(CHART), "--wait", "--timeout", "10m"]
        for v in self.values:
            args += ["-f", v]
        for s in sets:
            args += ["--set", s]
        result = self.helm(*args, check=check)
        if result.returncode == 0:
            self.wait_routed()
        return result

    def wait_routed(self) -> None:
        """`helm --wait` sees pods ready, not Traefik's routes: after a (re-)install the
        controller answers its own 404 until it has read the new Ingress."""
        ingress = json.loads(kubectl("get", "ingress", RELEASE, "-o", "json").stdout)
        prefixes = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
        with httpx.Client(base_url=self.ingress, timeout=10) as client:

            def routed() -> bool:
                return all(
                    client.get(f"{p}/schema/openapi.json").status_code == 200 for p in prefixes
                )

            eventually(routed, timeout=120, what=f"{prefixes} routed through the Ingress")

    def revision(self) -> int:
        return int(json.loads(self.helm("status", RELEASE, "-o", "json").stdout)["version"])

    def discovery(self) -> dict[str, Any]:
        with httpx.Client(base_url=self.ingress, timeout=15) as client:
            meta: dict[str, Any] = client.get("/api/users/.well-known/openid-configuration").json()
            return meta

    def person(self, name: str) -> Caller:
        """A person with an account (registered through the Ingress) and a token from the
        device grant, as `deepiri login` would get it. One per name."""
        with self._lock:
            if name not in self.people:
                email = f"{name}-{uuid.uuid4().hex[:8]}@e2e.deepiri.test"
                with httpx.Client(base_url=self.ingress, timeout=30) as client:
                    registered = client.post(
                        "/api/users/register",
                        json={"email": email, "password": PASSWORD, "display_name": name},
                    )
                    assert registered.status_code == 202, registered.text
                    tokens = device_sign_in(self.ingress, email)
                    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
                    me = client.get("/api/users/me", headers=bearer)
                    assert me.status_code == 200, me.text
                self.people[name] = Caller(
                    me.json()["id"], tokens["access_token"], time.time() + tokens["expires_in"]
                )
            return self.people[name]

    def machine(self, slot: int) -> Caller:
        """A service client registered with RFC 7591 (the chart's initial access token, read
        from its Secret as an operator would) and its client-credentials token, fetched with
        Authlib's OAuth client; renewed before it expires."""
        with self._lock:
            caller = self.machines.get(slot)
            if caller is None or caller.expires_at - time.time() < 120:
                caller = self._machine()
                self.machines[slot] = caller
            return caller

    def _machine(self) -> Caller:
        secret = kube_json("secret/deepiri-identity-credentials")["data"]["registration-token"]
        meta = self.discovery()
        with httpx.Client(timeout=30) as client:
            created = client.post(
                meta["registration_endpoint"],
                json={
                    "client_name": "e2e load",
                    "grant_types": ["client_credentials"],
                    "scope": SCOPES,
                    "token_endpoint_auth_method": "client_secret_basic",
                },
                headers={"Authorization": f"Bearer {base64.b64decode(secret).decode()}"},
            )
        assert created.status_code == 201, created.text
        info = created.json()
        with OAuth2Client(
            client_id=info["client_id"], client_secret=info["client_secret"], scope=SCOPES
        ) as oauth:
            token = oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        return Caller(info["client_id"], token["access_token"], float(token["expires_at"]))

    def headers(self, name: str) -> dict[str, str]:
        """A load generator's caller by name: one of MACHINES service clients."""
        return self.machine(zlib.crc32(name.encode()) % MACHINES).headers
