"""Signing in against the cluster the way people and clients do, through the Ingress only:
the provider publishes the public issuer (the URL a person at a terminal uses) while the
services fetch its keys inside the cluster; a person at a terminal gets a token with the
device grant and uses it on task-service; and the client address user-service throttles
sign-ins by is the one Traefik saw — believed from Traefik (global.trustedProxies), never
from a client's own X-Forwarded-For."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest

from e2e.helpers import (
    PASSWORD,
    Release,
    apply,
    csrf_of,
    device_sign_in,
    kube_json,
    kubectl,
    probe_pod,
)

pytestmark = [pytest.mark.e2e]
INTERNAL = "http://user-service:5001/api/users"
ADDRESS_FREE = 20  # failed sign-ins per client address before user-service locks it
# One client address signing in with wrong passwords for accounts that do not exist (so only
# the address counter can lock): the status codes, up to the first 429.
FAILING_SIGN_INS = """
import http.cookiejar, re, sys, urllib.error, urllib.parse, urllib.request
base, tries, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
web = urllib.request.build_opener(
    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), Keep)
codes = []
for i in range(tries):
    page = web.open(base + "/api/users/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": csrf, "email": f"nobody-{tag}-{i}@e2e.deepiri.test", "password": "x" * 16}
    try:
        codes.append(web.open(base + "/api/users/login",
                              urllib.parse.urlencode(form).encode(), timeout=30).status)
    except urllib.error.HTTPError as e:
        codes.append(e.code)
    if codes[-1] == 429:
        break
print(" ".join(map(str, codes)))
"""


def test_discovery_and_tokens_name_the_public_issuer(release: Release) -> None:
    meta = release.discovery()
    public = f"{release.ingress}/api/users"
    assert meta["issuer"] == public
    for endpoint in (
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "device_authorization_endpoint",
        "registration_endpoint",
    ):
        assert meta[endpoint].startswith(public + "/"), (endpoint, meta[endpoint])
    # The services expect that issuer and fetch the keys inside the cluster.
    for service in ("task-service", "gamification-service"):
        config = kube_json(f"configmap/{service}-config")["data"]
        assert config["JWT_ISSUER"] == public
        assert config["JWKS_URL"] == f"{INTERNAL}/oauth/jwks"
    # A token, checked with PyJWT against the JWKS the Ingress serves.
    token = release.machine(0).token
    keys = jwt.PyJWKSet.from_dict(httpx.get(meta["jwks_uri"], timeout=15).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="deepiri", issuer=public)
    assert claims["sub"] == claims["client_id"]


def test_a_person_at_a_terminal_signs_in_with_the_device_grant(release: Release) -> None:
    email = f"terminal-{uuid.uuid4().hex[:8]}@e2e.deepiri.test"
    with httpx.Client(base_url=release.ingress, timeout=30) as client:
        registered = client.post(
            "/api/users/register",
            json={"email": email, "password": PASSWORD, "display_name": "At a terminal"},
        )
        assert registered.status_code == 202, registered.text
        tokens = device_sign_in(release.ingress, email)
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert (claims["iss"], claims["client_id"]) == (
            release.discovery()["issuer"],
            "deepiri-cli",
        )
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        me = client.get("/api/users/me", headers=bearer).json()
        assert (me["email"], me["id"]) == (email, claims["sub"])
        created = client.post(
            "/api/tasks",
            json={"title": "signed in from a terminal"},
            headers={**bearer, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
        got = client.get(f"/api/tasks/{created.json()['id']}", headers=bearer)
        assert got.status_code == 200, got.text
        assert got.json()["title"] == "signed in from a terminal"


def failing_sign_ins_from_outside(ingress: str, tries: int) -> list[httpx.Response]:
    """From this machine through the Ingress, every try claiming another X-Forwarded-For."""
    answers = []
    with httpx.Client(base_url=ingress, timeout=30) as browser:
        for i in range(tries):
            spoofed = {"X-Forwarded-For": f"198.51.100.{i + 1}"}
            page = browser.get("/api/users/login", headers=spoofed)
            form = {
                "csrf": csrf_of(page.text),
                "email": f"nobody-outside-{i}@e2e.deepiri.test",
                "password": "x" * 16,
            }
            answers.append(browser.post("/api/users/login", data=form, headers=spoofed))
            if answers[-1].status_code == 429:
                break
    return answers


@pytest.fixture
def callers_in_the_cluster(release: Release) -> Iterator[tuple[str, str]]:
    """Two pods (two addresses) that reach Traefik by its Service, as any client would."""
    names = ("xff-a", "xff-b")
    apply([probe_pod(n, {"e2e": "xff"}) for n in names])
    kubectl("wait", "--for=condition=Ready", "pod", "-l", "e2e=xff", "--timeout=120s")
    yield names
    kubectl("delete", "pod", "-l", "e2e=xff", "--wait=false")


def failing_sign_ins_from(pod: str, tries: int) -> list[int]:
    traefik = "http://traefik.traefik.svc.cluster.local"
    out = kubectl(
        "exec", pod, "--", "python3", "-c", FAILING_SIGN_INS, traefik, str(tries), pod, timeout=300
    ).stdout
    return [int(c) for c in out.split()]


def test_sign_in_throttling_sees_the_address_traefik_saw(
    release: Release, callers_in_the_cluster: tuple[str, str]
) -> None:
    # From outside, a client's own X-Forwarded-For is not believed: thirty different claimed
    # addresses are one address, locked after its free failures.
    outside = failing_sign_ins_from_outside(release.ingress, ADDRESS_FREE + 10)
    codes = [r.status_code for r in outside]
    assert codes[-1] == 429, codes
    assert set(codes[:ADDRESS_FREE]) == {401}, codes
    assert int(outside[-1].headers["retry-after"]) >= 1

    # From Traefik it is: callers inside the cluster reach Traefik from their own addresses,
    # and user-service counts each on its own — not on Traefik's address, nor on the one just
    # locked.
    first, second = callers_in_the_cluster
    codes_first = failing_sign_ins_from(first, ADDRESS_FREE + 10)
    assert codes_first[-1] == 429, codes_first
    assert set(codes_first[:ADDRESS_FREE]) == {401}, codes_first
    assert failing_sign_ins_from(second, 3) == [401, 401, 401]

    # The outside address's lock runs out (later tests sign people in from here).
    time.sleep(int(outside[-1].headers["retry-after"]) + 1)
