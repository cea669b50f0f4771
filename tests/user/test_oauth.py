"""The provider in process, on real FerretDB and Redis: discovery, the code flow with PKCE
and consent, refresh rotation, client credentials, revocation and introspection — and a
negative test for every rule."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from support.tokens import AUDIENCE, ISSUER
from support.users import (
    OAUTH,
    PREFIX,
    REDIRECT,
    SCOPE,
    SERVICE_SECRET,
    authorize,
    code_for,
    csrf_field,
    exchange,
    introspect,
    pkce,
    query_of,
    refresh,
    register,
    sign_in,
    signed_in,
    verified,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_discovery_and_jwks(client: httpx.AsyncClient) -> None:
    oidc = (await client.get(f"{PREFIX}/.well-known/openid-configuration")).json()
    rfc8414 = (await client.get("/.well-known/oauth-authorization-server/api/users")).json()
    assert oidc == rfc8414
    assert oidc["issuer"] == ISSUER
    assert oidc["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert "implicit" not in oidc["grant_types_supported"]
    assert "password" not in oidc["grant_types_supported"]
    jwks = (await client.get(f"{OAUTH}/jwks")).json()
    [key] = jwks["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # public halves only


async def test_code_flow_with_pkce_issues_rfc9068_access_and_id_tokens(
    client: httpx.AsyncClient, redis: Any
) -> None:
    user_id = await signed_in(client, redis)
    code, verifier = await code_for(client, nonce="n-0S6_WzA2Mj")
    response = await exchange(client, code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 600
    assert set(tokens["scope"].split()) == set(SCOPE.split())

    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["typ"] == "at+jwt"
    access = await verified(client, tokens["access_token"], AUDIENCE)
    assert {"iss", "aud", "sub", "client_id", "iat", "exp", "jti", "scope"} <= set(access)
    assert (access["sub"], access["client_id"]) == (user_id, "web")
    assert access["exp"] - access["iat"] == 600

    id_token = await verified(client, tokens["id_token"], "web")
    assert (id_token["sub"], id_token["nonce"], id_token["email"]) == (
        user_id,
        "n-0S6_WzA2Mj",
        "alice@example.com",
    )
    assert "at_hash" in id_token

    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(f"{PREFIX}/me", headers=bearer)).json()["id"] == user_id
    info = (await client.get(f"{OAUTH}/userinfo", headers=bearer)).json()
    assert info == {
        "sub": user_id,
        "name": "Alice",
        "zoneinfo": "UTC",
        "locale": "en",
        "roles": [],
        "email": "alice@example.com",
        "email_verified": False,
    }
    # Nothing single-use is stored in clear.
    for secret in (code, tokens["refresh_token"]):
        assert secret not in json.dumps(await _all_documents(client), default=str)


async def _all_documents(client: httpx.AsyncClient) -> list[Any]:
    app = client._transport.app  # type: ignore[attr-defined]
    db = app.state.platform.mongo
    found = []
    for name in await db.list_collection_names():
        found.extend([doc async for doc in db[name].find({})])
    return found


async def test_sign_in_first_then_back_to_the_authorization(
    client: httpx.AsyncClient, redis: Any
) -> None:
    await register(client, redis)
    verifier, challenge = pkce()
    first = await authorize(client, code_challenge=challenge, code_challenge_method="S256")
    assert first.status_code == 303
    login = first.headers["location"]
    assert login.startswith(f"{PREFIX}/login?next=")
    back = parse_qs(urlsplit(login).query)["next"][0]
    response = await sign_in(client, "alice@example.com", next=back)
    assert response.headers["location"] == back
    resumed = await client.get(back)
    assert resumed.status_code == 302
    assert (await exchange(client, query_of(resumed)["code"], verifier)).status_code == 200


async def test_third_party_clients_ask_for_consent_once(
    client: httpx.AsyncClient, redis: Any
) -> None:
    await signed_in(client, redis)
    verifier, challenge = pkce()
    params = {
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "openid profile",
    }
    page = await authorize(client, "app", **params)
    assert page.status_code == 200
    assert "Some App" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    request_query = page.text.split('name="request" value="', 1)[1].split('"', 1)[0]
    form = {"csrf": csrf_field(page.text), "request": request_query.replace("&amp;", "&")}

    forged = await client.post(
        f"{OAUTH}/authorize", data={**form, "csrf": "x", "decision": "allow"}
    )
    assert forged.status_code == 403
    denied = await client.post(f"{OAUTH}/authorize", data={**form, "decision": "deny"})
    assert denied.status_code == 302
    assert query_of(denied)["error"] == "access_denied"

    allowed = await client.post(f"{OAUTH}/authorize", data={**form, "decision": "allow"})
    assert allowed.status_code == 302
    tokens = (await exchange(client, query_of(allowed)["code"], verifier, "app")).json()
    assert set(tokens["scope"].split()) == {"openid", "profile"}
    # Remembered for this scope set: no page the second time; a wider set asks again.
    _, challenge = pkce()
    again = await authorize(client, "app", **{**params, "code_challenge": challenge})
    assert again.status_code == 302
    wider = await authorize(
        client, "app", **{**params, "code_challenge": challenge, "scope": "openid email"}
    )
    assert wider.status_code == 200


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "invalid_request"),  # no PKCE at all
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "x" * 43}, "invalid_request"),  # method defaults to plain: refused
        (
            {"code_challenge": "x" * 43, "code_challenge_method": "S256", "response_type": "token"},
            "unsupported_response_type",
        ),
        (
            {"code_challenge": "x" * 43, "code_challenge_method": "S256", "scope": "openid nosuch"},
            "invalid_scope",
        ),
    ],
)
async def test_authorization_requests_that_break_a_rule_go_back_with_an_error(
    client: httpx.AsyncClient, redis: Any, params: dict[str, str], error: str
) -> None:
    await signed_in(client, redis)
    response = await authorize(client, **params)
    assert response.status_code == 302, response.text
    assert query_of(response)["error"] == error
    assert query_of(response)["state"] == "xyz"


@pytest.mark.parametrize(
    "params",
    [
        {"redirect_uri": REDIRECT + "/evil"},  # not registered: exact match only
        {"redirect_uri": REDIRECT.upper()},
        {"redirect_uri": "https://evil.example/callback"},
        {"client_id": "nosuch"},
        {"redirect_uri": ""},  # app has two: it must say which
    ],
)
async def test_unverifiable_redirects_are_never_followed(
    client: httpx.AsyncClient, redis: Any, params: dict[str, str]
) -> None:
    await signed_in(client, redis)
    _, challenge = pkce()
    response = await authorize(
        client,
        params.pop("client_id", "app"),
        code_challenge=challenge,
        code_challenge_method="S256",
        **params,
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not valid" in response.text


async def test_the_token_endpoint_checks_verifier_redirect_and_client(
    client: httpx.AsyncClient, redis: Any
) -> None:
    await signed_in(client, redis)
    code, verifier = await code_for(client)
    wrong = await exchange(client, code, pkce()[0])
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    code, verifier = await code_for(client)
    missing = await exchange(client, code, "")
    assert missing.json()["error"] == "invalid_request"
    code, verifier = await code_for(client)
    other = await client.post(
        f"{OAUTH}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT + "2",
            "client_id": "web",
        },
    )
    assert other.json()["error"] == "invalid_grant"
    code, verifier = await code_for(client)
    stolen = await exchange(client, code, verifier, client_id="app")  # issued to web
    assert stolen.json()["error"] == "invalid_grant"
    assert (await client.post(f"{OAUTH}/token", json={"grant_type": "x"})).status_code == 400
    password = await client.post(
        f"{OAUTH}/token",
        data={"grant_type": "password", "username": "a", "password": "b", "client_id": "web"},
    )
    assert password.json()["error"] == "unsupported_grant_type"


async def test_a_reused_code_fails_and_revokes_what_it_issued(
    client: httpx.AsyncClient, redis: Any
) -> None:
    await signed_in(client, redis)
    code, verifier = await code_for(client)
    first = (await exchange(client, code, verifier)).json()
    assert (await introspect(client, first["access_token"]))["active"] is True
    replay = await exchange(client, code, verifier)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert (await introspect(client, first["access_token"]))["active"] is False
    assert (await refresh(client, first["refresh_token"])).json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert (await client.get(f"{PREFIX}/me", headers=bearer)).status_code == 401


async def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(
    client: httpx.AsyncClient, redis: Any
) -> None:
    await signed_in(client, redis)
    code, verifier = await code_for(client)
    first = (await exchange(client, code, verifier)).json()
    second = (await refresh(client, first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = (await refresh(client, second["refresh_token"])).json()
    assert "access_token" in third
    # The first token again: theft suspected — every token of the family dies.
    reused = await refresh(client, first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert (await refresh(client, third["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await introspect(client, third["access_token"]))["active"] is False
    # Another login is another family, untouched.
    code, verifier = await code_for(client)
    fresh = (await exchange(client, code, verifier)).json()
    assert (await refresh(client, fresh["refresh_token"])).status_code == 200
    # A refresh token is bound to its client.
    code, verifier = await code_for(client)
    web = (await exchange(client, code, verifier)).json()
    assert (await refresh(client, web["refresh_token"], "app")).json()["error"] == "invalid_grant"


async def test_client_credentials(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{OAUTH}/token",
        data={"grant_type": "client_credentials", "scope": "tasks:read"},
        auth=("svc", SERVICE_SECRET),
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert "refresh_token" not in tokens
    claims = await verified(client, tokens["access_token"], AUDIENCE)
    assert (claims["sub"], claims["client_id"], claims["scope"]) == ("svc", "svc", "tasks:read")
    wrong = await client.post(
        f"{OAUTH}/token",
        data={"grant_type": "client_credentials"},
        auth=("svc", "not-the-secret"),
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    public = await client.post(
        f"{OAUTH}/token", data={"grant_type": "client_credentials", "client_id": "web"}
    )
    assert public.json()["error"] in {"invalid_client", "unauthorized_client"}
    # A service token is not a person: /me refuses it, public profiles answer.
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(f"{PREFIX}/me", headers=bearer)).status_code == 403
    # Without the openid scope there is no userinfo: RFC 6750's insufficient_scope, in the
    # header where a client looks for it.
    userinfo = await client.get(f"{OAUTH}/userinfo", headers=bearer)
    assert userinfo.status_code == 403
    assert 'error="insufficient_scope"' in userinfo.headers["www-authenticate"]
    assert "headers" not in userinfo.json()


async def test_revocation_and_introspection(client: httpx.AsyncClient, redis: Any) -> None:
    await signed_in(client, redis)
    code, verifier = await code_for(client)
    tokens = (await exchange(client, code, verifier)).json()
    described = await introspect(client, tokens["access_token"])
    assert (described["active"], described["client_id"], described["token_type"]) == (
        True,
        "web",
        "Bearer",
    )
    assert (await introspect(client, tokens["refresh_token"]))["active"] is True
    assert (await introspect(client, "not a token"))["active"] is False
    # Introspection needs a confidential client.
    anonymous = await client.post(f"{OAUTH}/introspect", data={"token": tokens["access_token"]})
    assert anonymous.status_code == 401

    revoked = await client.post(
        f"{OAUTH}/revoke", data={"token": tokens["access_token"], "client_id": "web"}
    )
    assert revoked.status_code == 200
    assert (await introspect(client, tokens["access_token"]))["active"] is False
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(f"{PREFIX}/me", headers=bearer)).status_code == 401
    assert (await client.get(f"{OAUTH}/userinfo", headers=bearer)).status_code == 401
    # The refresh token still works (only the access token was revoked) …
    renewed = (await refresh(client, tokens["refresh_token"])).json()
    # … until it is revoked itself, which ends its grant.
    await client.post(
        f"{OAUTH}/revoke",
        data={
            "token": renewed["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": "web",
        },
    )
    assert (await refresh(client, renewed["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await introspect(client, renewed["access_token"]))["active"] is False
    unknown = await client.post(f"{OAUTH}/revoke", data={"token": "nope", "client_id": "web"})
    assert unknown.status_code == 200


async def test_deleting_the_account_ends_its_grants(client: httpx.AsyncClient, redis: Any) -> None:
    await signed_in(client, redis)
    code, verifier = await code_for(client, scope=f"{SCOPE} users:write")
    tokens = (await exchange(client, code, verifier)).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.delete(f"{PREFIX}/me", headers=bearer)).status_code == 204
    assert (await refresh(client, tokens["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await client.get(f"{OAUTH}/userinfo", headers=bearer)).status_code == 401


async def test_prompt_none_without_a_session_answers_login_required(
    client: httpx.AsyncClient, redis: Any
) -> None:
    await register(client, redis)
    _, challenge = pkce()
    response = await authorize(
        client, code_challenge=challenge, code_challenge_method="S256", prompt="none"
    )
    assert response.status_code == 302
    assert query_of(response)["error"] == "login_required"
