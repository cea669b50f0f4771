"""user-service's identity Secret and Grafana's sign-in with Deepiri accounts, as the chart
renders them: the seeded `grafana` client (its redirect URI, scopes and the secret Grafana
reads) matches Grafana's generic OAuth settings; the browser goes to the public issuer while
Grafana calls user-service inside the cluster, as its NetworkPolicy allows. (Grafana itself
does not run on the local cluster — no image is built there; tests/system/test_grafana_sign_in.py
drives a real user-service with exactly these settings.)"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from support.charts import CHART, PodRef, allowed, by_name, helm_template, load_docs, of_kind

pytestmark = pytest.mark.chart
SECRET = "deepiri-identity-credentials"


def kind_render(*sets: str) -> list[dict[str, Any]]:
    return load_docs(helm_template(["values-kind.yaml"], sets).stdout)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def grafana_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = by_name(docs, "Deployment")["deepiri-grafana"]["spec"]["template"]["spec"]
    return env_of(pod["containers"][0])


def identity_data(docs: list[dict[str, Any]]) -> dict[str, str]:
    data = by_name(docs, "Secret")[SECRET]["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def seeded(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["client_id"]: c for c in json.loads(identity_data(docs)["oauth-clients"])}


def test_grafana_signs_in_with_deepiri_accounts() -> None:
    docs = kind_render()
    issuer = yaml.safe_load((CHART / "values-kind.yaml").read_text())["global"]["auth"]["issuer"]
    env = grafana_env(docs)
    client = seeded(docs)["grafana"]

    assert env["GF_AUTH_GENERIC_OAUTH_ENABLED"] == "true"
    assert env["GF_AUTH_GENERIC_OAUTH_CLIENT_ID"] == "grafana"
    # The secret Grafana presents is the one user-service is seeded with.
    assert env["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"] == {
        "secretKeyRef": {"name": SECRET, "key": "grafana-client-secret"}
    }
    assert client["secret"] == identity_data(docs)["grafana-client-secret"]
    assert len(client["secret"]) >= 32
    # Exact redirect-URI match: Grafana's callback under its root URL.
    assert client["redirect_uris"] == [f"{env['GF_SERVER_ROOT_URL']}/login/generic_oauth"]
    assert client["first_party"] is True
    assert client["grant_types"] == ["authorization_code", "refresh_token"]
    scopes = env["GF_AUTH_GENERIC_OAUTH_SCOPES"].split()
    assert set(scopes) == {"openid", "profile", "email"} <= set(client["scope"].split())
    assert env["GF_AUTH_GENERIC_OAUTH_USE_PKCE"] == "true"
    # The browser is sent to the public issuer; Grafana's own calls stay in the cluster.
    assert env["GF_AUTH_GENERIC_OAUTH_AUTH_URL"] == f"{issuer}/oauth/authorize"
    for key, path in (("TOKEN_URL", "token"), ("API_URL", "userinfo")):
        url = urlsplit(env[f"GF_AUTH_GENERIC_OAUTH_{key}"])
        assert (url.hostname, url.port, url.path) == (
            "user-service",
            5001,
            f"/api/users/oauth/{path}",
        )
    assert "roles" in env["GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH"]

    # user-service's own parser accepts the rendered list (secrets kept only as digests).
    from user_service.domain.oauth import secret_digest
    from user_service.service.clients import parse_clients

    users = by_name(docs, "Deployment")["user-service"]["spec"]["template"]["spec"]
    assert env_of(users["containers"][0])["OAUTH_CLIENTS"] == {
        "secretKeyRef": {"name": SECRET, "key": "oauth-clients"}
    }
    parsed = {c.client_id: c for c in parse_clients(identity_data(docs)["oauth-clients"])}
    assert parsed["grafana"].secret_digest == secret_digest(client["secret"])
    assert parsed["deepiri-cli"].secret_digest is None

    # Grafana may call user-service (and user-service admits it).
    policies = of_kind(docs, "NetworkPolicy")
    grafana_pod = PodRef(
        by_name(docs, "Deployment")["deepiri-grafana"]["spec"]["template"]["metadata"]["labels"]
    )
    users_pod = PodRef(
        by_name(docs, "Deployment")["user-service"]["spec"]["template"]["metadata"]["labels"]
    )
    assert allowed(policies, grafana_pod, users_pod, 5001) == (True, "allowed")


def test_without_grafana_only_the_configured_clients_are_seeded() -> None:
    docs = load_docs(helm_template().stdout)
    assert not by_name(docs, "Deployment").get("deepiri-grafana")
    clients = seeded(docs)
    assert list(clients) == ["deepiri-cli", "gamification-service", "challenge-service"]
    assert "urn:ietf:params:oauth:grant-type:device_code" in clients["deepiri-cli"]["grant_types"]
    # The default issuer is the in-cluster address.
    config = by_name(docs, "ConfigMap")["task-service-config"]["data"]
    assert config["JWT_ISSUER"] == "http://user-service:5001/api/users"
    assert config["JWKS_URL"] == "http://user-service:5001/api/users/oauth/jwks"


def test_gamification_service_gets_its_own_client_for_the_social_graph() -> None:
    """Friends' boards are rebuilt from user-service with gamification-service's own token:
    the client user-service seeds and the secret gamification-service presents are one."""
    docs = load_docs(helm_template().stdout)
    client = seeded(docs)["gamification-service"]
    assert client["grant_types"] == ["client_credentials"]
    assert client["scope"] == "social:read"
    assert client["secret"] == identity_data(docs)["gamification-service-client-secret"]
    assert len(client["secret"]) >= 32
    game = by_name(docs, "Deployment")["gamification-service"]["spec"]["template"]["spec"]
    assert env_of(game["containers"][0])["USER_SERVICE_CLIENT_SECRET"] == {
        "secretKeyRef": {"name": SECRET, "key": "gamification-service-client-secret"}
    }
    from user_service.domain.oauth import secret_digest
    from user_service.service.clients import parse_clients

    parsed = {c.client_id: c for c in parse_clients(identity_data(docs)["oauth-clients"])}
    assert parsed["gamification-service"].secret_digest == secret_digest(client["secret"])
    # Without gamification-service there is no such client.
    without = load_docs(helm_template(sets=["gamification-service.enabled=false"]).stdout)
    assert "gamification-service" not in seeded(without)


def test_grafana_with_user_service_needs_the_public_issuer() -> None:
    result = helm_template(sets=["observability.grafana.enabled=true"], check=False)
    assert result.returncode != 0
    assert "global.auth.issuer" in result.stderr


def test_grafana_without_user_service_keeps_its_own_sign_in() -> None:
    docs = kind_render("user-service.enabled=false")
    env = grafana_env(docs)
    assert "GF_AUTH_GENERIC_OAUTH_ENABLED" not in env
    assert SECRET not in by_name(docs, "Secret")
    labels = by_name(docs, "Deployment")["deepiri-grafana"]["spec"]["template"]["metadata"][
        "labels"
    ]
    assert "deepiri.io/calls-user-service" not in labels


def test_issuer_values_are_checked() -> None:
    bad = helm_template(sets=["global.auth.issuer=http://example.com/"], check=False)
    assert bad.returncode != 0
    assert "issuer" in bad.stderr


def test_service_clients_get_a_generated_secret_and_only_their_scope() -> None:
    """identity.serviceClients (challenge-service → ai-service with agent:invoke): a
    confidential client-credentials client each, its secret generated into the Secret under
    `<client_id>-client-secret`, seeded into user-service as exactly that."""
    from user_service.domain.oauth import CLIENT_CREDENTIALS, secret_digest
    from user_service.service.clients import parse_clients

    docs = kind_render()
    data = identity_data(docs)
    client = seeded(docs)["challenge-service"]
    assert client["grant_types"] == [CLIENT_CREDENTIALS]
    assert client["scope"] == "agent:invoke"
    assert client["secret"] == data["challenge-service-client-secret"]
    assert len(client["secret"]) >= 32
    [parsed] = [
        c for c in parse_clients(data["oauth-clients"]) if c.client_id == "challenge-service"
    ]
    assert parsed.secret_digest == secret_digest(client["secret"])
    assert not parsed.first_party


def test_the_terminal_client_may_ask_for_the_scopes_of_every_enabled_api() -> None:
    """A scope the seeded client lacks is dropped from every token a person gets with it (the
    provider narrows a request to the client's scope): with the chart's defaults a person at
    a terminal must reach every public API — once nobody could read their inbox, the client
    lacked notifications:*."""
    from user_service.domain.oauth import SCOPES

    docs = load_docs(helm_template().stdout)
    ingress = by_name(docs, "Ingress")["deepiri"]
    prefixes = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    apis = {p.removeprefix("/api/") for p in prefixes if p.startswith("/api/")}
    wanted = {f"{api}:{access}" for api in apis for access in ("read", "write")} & set(SCOPES)
    assert {"tasks:write", "challenges:write", "notifications:read"} <= wanted, wanted
    granted = set(seeded(docs)["deepiri-cli"]["scope"].split())
    assert wanted <= granted, sorted(wanted - granted)
