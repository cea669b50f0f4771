"""The device authorization grant (RFC 8628): a terminal polls while a person approves on
the verification page; single-use device codes, slow_down, denial and expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from deepiri_kit import utcnow
from support.users import PREFIX, csrf_field, register, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
OAUTH = f"{PREFIX}/oauth"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def start(client: httpx.AsyncClient, scope: str = "openid users:read") -> dict[str, Any]:
    response = await client.post(
        f"{OAUTH}/device_authorization", data={"client_id": "cli", "scope": scope}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def poll(client: httpx.AsyncClient, device_code: str) -> httpx.Response:
    return await client.post(
        f"{OAUTH}/token",
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": "cli"},
    )


async def decide(browser: httpx.AsyncClient, user_code: str, decision: str) -> httpx.Response:
    page = await browser.get(f"{PREFIX}/device", params={"user_code": user_code})
    assert page.status_code == 200
    assert "Deepiri CLI" in page.text
    return await browser.post(
        f"{PREFIX}/device",
        data={"csrf": csrf_field(page.text), "user_code": user_code, "decision": decision},
    )


async def test_a_terminal_signs_in_once_the_person_approves(
    client: httpx.AsyncClient, redis: Any
) -> None:
    device = await start(client)
    assert device["verification_uri"].endswith("/api/users/device")
    assert device["interval"] == 5
    first = await poll(client, device["device_code"])
    assert first.json()["error"] == "authorization_pending"
    assert (await poll(client, device["device_code"])).json()["error"] == "slow_down"

    user_id = await register(client, redis)
    # Not signed in yet: the page sends the person to sign in first, and back.
    landing = await client.get(f"{PREFIX}/device", params={"user_code": device["user_code"]})
    assert landing.status_code == 303
    assert landing.headers["location"].startswith(f"{PREFIX}/login?next=")
    assert (await sign_in(client, "alice@example.com")).status_code == 303
    assert (await decide(client, device["user_code"], "allow")).status_code == 200

    tokens = (await poll(client, device["device_code"])).json()
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(f"{PREFIX}/me", headers=bearer)).json()["id"] == user_id
    # One device code, one set of tokens.
    again = await poll(client, device["device_code"])
    assert again.status_code == 400
    assert "access_token" not in again.json()
    # The user code cannot be approved twice.
    page = await client.get(f"{PREFIX}/device", params={"user_code": device["user_code"]})
    assert "unknown or expired" in page.text


async def test_denied_expired_and_unknown_device_codes(
    client: httpx.AsyncClient, redis: Any, mongo: Any
) -> None:
    await register(client, redis)
    await sign_in(client, "alice@example.com")
    denied = await start(client)
    await decide(client, denied["user_code"], "deny")
    assert (await poll(client, denied["device_code"])).json()["error"] == "access_denied"

    expired = await start(client)
    await mongo["oauth_devices"].update_many(
        {"user_code": expired["user_code"]},
        {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}},
    )
    assert (await poll(client, expired["device_code"])).json()["error"] == "expired_token"
    page = await client.get(f"{PREFIX}/device", params={"user_code": expired["user_code"]})
    assert "unknown or expired" in page.text

    unknown = await poll(client, "no-such-device-code")
    assert unknown.json()["error"] == "invalid_request"
    # A client not allowed the device grant cannot start one.
    other = await client.post(
        f"{OAUTH}/device_authorization", data={"client_id": "app", "scope": "openid"}
    )
    assert other.status_code in (400, 401)
