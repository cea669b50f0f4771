"""RFC 7591 client registration: only with the initial access token or an admin's token;
the secret is shown once and stored hashed; the new client works; bad metadata is refused."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from litestar import Litestar

from support.users import PREFIX, REDIRECT, code_for, exchange, register, sign_in
from user_service.service.accounts import AccountService

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
REGISTER = f"{PREFIX}/oauth/register"
INITIAL = {"Authorization": "Bearer development-registration-token"}


async def test_registration_with_the_initial_access_token(
    client: httpx.AsyncClient, mongo: Any
) -> None:
    body = {
        "client_name": "Reports",
        "grant_types": ["client_credentials"],
        "scope": "tasks:read",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    assert (await client.post(REGISTER, json=body)).status_code in (400, 401, 403)
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (await client.post(REGISTER, json=body, headers=wrong)).status_code in (400, 401, 403)

    created = await client.post(REGISTER, json=body, headers=INITIAL)
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["client_name"] == "Reports"
    secret = info["client_secret"]
    stored = await mongo["oauth_clients"].find_one({"_id": info["client_id"]})
    assert secret not in json.dumps(stored, default=str)

    token = await client.post(
        f"{PREFIX}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "tasks:read"},
        auth=(info["client_id"], secret),
    )
    assert token.status_code == 200, token.text

    public = await client.post(
        REGISTER,
        json={
            "client_name": "SPA",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        },
        headers=INITIAL,
    )
    assert public.status_code == 201, public.text
    assert public.json().get("client_secret") is None


@pytest.mark.parametrize(
    "body",
    [
        {"client_name": "x", "redirect_uris": ["http://evil.example/cb"]},  # plain http
        {"client_name": "x", "redirect_uris": ["https://a.example/cb#frag"]},
        {"client_name": "x", "grant_types": ["implicit"], "redirect_uris": [REDIRECT]},
        {"client_name": "x", "grant_types": ["password"]},
        {"client_name": "x", "scope": "openid everything"},
        {"client_name": "x", "grant_types": ["authorization_code"]},  # no redirect URI
    ],
)
async def test_bad_metadata_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, mongo: Any, body: dict[str, Any]
) -> None:
    before = await mongo["oauth_clients"].count_documents({})
    response = await client.post(REGISTER, json=body, headers=INITIAL)
    assert response.status_code == 400, response.text
    assert response.json()["error"] in {"invalid_client_metadata", "invalid_redirect_uri"}
    assert await mongo["oauth_clients"].count_documents({}) == before


async def test_an_admin_registers_with_their_own_token_and_others_cannot(
    app: Litestar, client: httpx.AsyncClient, redis: Any
) -> None:
    user_id = await register(client, redis)
    await sign_in(client, "alice@example.com")
    body = {"client_name": "Ops", "grant_types": ["client_credentials"], "scope": "tasks:read"}

    code, verifier = await code_for(client, scope="openid admin")
    plain = (await exchange(client, code, verifier)).json()
    assert "admin" not in plain["scope"].split()  # not granted without the role
    refused = await client.post(
        REGISTER, json=body, headers={"Authorization": f"Bearer {plain['access_token']}"}
    )
    assert refused.status_code in (400, 401, 403)

    accounts: AccountService = app.state.accounts
    await accounts.set_roles(user_id, {"admin"})
    code, verifier = await code_for(client, scope="openid admin")
    admin = (await exchange(client, code, verifier)).json()
    assert "admin" in admin["scope"].split()
    created = await client.post(
        REGISTER, json=body, headers={"Authorization": f"Bearer {admin['access_token']}"}
    )
    assert created.status_code == 201, created.text
