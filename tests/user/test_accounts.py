"""Accounts through the HTTP API on real FerretDB and Redis: registration, the profile,
deletion, verification and reset links, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from deepiri_kit import load_settings
from support.erasure import mongo_traces
from support.tokens import TokenIssuer
from support.users import PASSWORD, PREFIX, client_of, events, mailed_secret, register, sign_in
from user_service.app import create_app
from user_service.service.accounts import InvalidLink
from user_service.settings import UserSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
RW = "users:read users:write"
DEAD_LINK = InvalidLink().detail  # one answer for unknown, spent, expired and misused links


async def test_register_announces_the_account_and_mails_a_verification_link(
    client: httpx.AsyncClient, redis: Any, mongo: Any
) -> None:
    user_id = await register(client, redis, email=" Alice@Example.com", time_zone="Europe/Paris")
    [registered] = await events(redis, "user.registered")
    assert registered.id == f"{user_id}:1"
    assert registered.data == {
        "user_id": user_id,
        "display_name": "Alice",
        "time_zone": "Europe/Paris",
        "locale": "en",
        "email": None,  # not verified yet: nobody mails it but the verification
    }
    [mail] = await events(redis, "user.verification_requested")
    assert mail.data["email"] == "alice@example.com"
    assert mail.data["link"].startswith("http://issuer.test/api/users/email/verify?token=")
    # Only the digest is stored; the password only as an Argon2id hash.
    secret = mail.data["link"].rsplit("=", 1)[1]
    stored = await mongo["one_time_tokens"].find_one({})
    assert secret not in str(stored)
    credentials = await mongo["credentials"].find_one({"_id": user_id})
    assert credentials["hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_a_taken_address_gets_the_same_answer_and_no_second_account(
    client: httpx.AsyncClient, redis: Any, mongo: Any
) -> None:
    first = await register(client, redis)
    body = {"email": "ALICE@example.com", "password": "another long phrase", "display_name": "B"}
    again = await client.post(f"{PREFIX}/register", json=body)
    fresh = await client.post(f"{PREFIX}/register", json={**body, "email": "new@example.com"})
    assert again.status_code == fresh.status_code == 202
    assert again.json() == fresh.json()
    owners = {doc["user_id"] async for doc in mongo["emails"].find({"_id": "alice@example.com"})}
    assert owners == {first}
    assert len(await events(redis, "user.registered")) == 2  # alice and new@, not a third


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "a@example.com", "password": "short", "display_name": "A"}, 422),
        ({"email": "a@example.com", "password": "password1234", "display_name": "A"}, 422),
        ({"email": "not-an-address", "password": PASSWORD, "display_name": "A"}, 422),
        (
            {"email": "a@example.com", "password": PASSWORD, "display_name": "A", "time_zone": "X"},
            422,
        ),
        (
            {
                "email": "a@example.com",
                "password": PASSWORD,
                "display_name": "A",
                "roles": ["admin"],
            },
            400,
        ),
        ({"email": "a@example.com", "password": PASSWORD}, 400),
        ({"email": {"$ne": ""}, "password": PASSWORD, "display_name": "A"}, 400),
    ],
)
async def test_bad_registrations_are_problems_and_write_nothing(
    client: httpx.AsyncClient, redis: Any, mongo: Any, body: Any, status: int
) -> None:
    response = await client.post(f"{PREFIX}/register", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert PASSWORD not in response.text
    for name in ("emails", "credentials", "account_log", "users"):
        assert await mongo[name].count_documents({}) == 0
    assert await redis.exists("events.users") == 0


async def test_me_patch_and_the_public_profile(
    client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    user_id = await register(client, redis)
    me = issuer.headers(user_id, RW)
    got = (await client.get(f"{PREFIX}/me", headers=me)).json()
    assert (got["id"], got["email"], got["email_verified"]) == (user_id, "alice@example.com", False)

    patched = await client.patch(
        f"{PREFIX}/me",
        json={"display_name": " Alice  Liddell ", "locale": "en-gb"},
        headers=me,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["display_name"], patched.json()["locale"]) == ("Alice Liddell", "en-GB")
    [update] = await events(redis, "user.updated")
    assert update.data["display_name"] == "Alice Liddell"
    assert update.id == f"{user_id}:2"

    bad = await client.patch(f"{PREFIX}/me", json={"email": "x@example.com"}, headers=me)
    assert bad.status_code == 400
    bad = await client.patch(f"{PREFIX}/me", json={"time_zone": "Nowhere/Town"}, headers=me)
    assert bad.status_code == 422

    other = issuer.headers("someone-else", "users:read")
    public = await client.get(f"{PREFIX}/{user_id}", headers=other)
    assert public.json() == {
        "id": user_id,
        "display_name": "Alice Liddell",
        "avatar_url": None,
        "level": 1,
    }
    assert (await client.get(f"{PREFIX}/nobody", headers=other)).status_code == 404
    assert (await client.get(f"{PREFIX}/me")).status_code == 401
    read_only = issuer.headers(user_id, "users:read")
    assert (await client.patch(f"{PREFIX}/me", json={}, headers=read_only)).status_code == 403
    service = issuer.headers("deepiri-web", RW, client_id="deepiri-web")
    assert (await client.get(f"{PREFIX}/me", headers=service)).status_code == 403


async def test_delete_erases_the_account_and_frees_the_address(
    client: httpx.AsyncClient, redis: Any, mongo: Any, issuer: TokenIssuer
) -> None:
    user_id = await register(client, redis)
    assert (await sign_in(client, "alice@example.com")).status_code == 303
    me = issuer.headers(user_id, RW)
    assert (await client.delete(f"{PREFIX}/me", headers=me)).status_code == 204
    [deleted] = await events(redis, "user.deleted")
    assert (deleted.user_id, deleted.data) == (user_id, {"user_id": user_id})
    assert (await client.get(f"{PREFIX}/me", headers=me)).status_code == 404
    assert (await client.get(f"{PREFIX}/{user_id}", headers=me)).status_code == 404
    assert await mongo["credentials"].count_documents({}) == 0
    assert (await mongo["users"].find_one({"_id": user_id}))["email"] == ""
    # Nothing in the database still holds the address or the name: not the read model, not
    # the account log's earlier links, not the address claim.
    for found in (
        await mongo_traces(mongo, "alice@example.com"),
        await mongo_traces(mongo, "Alice"),
    ):
        assert found == {}, found
    # The browser session ended with the account; the password no longer signs in.
    page = await client.get(f"{PREFIX}/login")
    assert "Signed in as" not in page.text
    assert (await sign_in(client, "alice@example.com")).status_code == 401
    # Deleting twice is the same outcome; the address can have a new account.
    assert (await client.delete(f"{PREFIX}/me", headers=me)).status_code == 204
    assert len(await events(redis, "user.deleted")) == 1
    assert await register(client, redis) != user_id


async def test_verification_link_is_single_use(
    client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer
) -> None:
    user_id = await register(client, redis)
    secret = await mailed_secret(redis, "user.verification_requested", user_id)
    page = await client.get(f"{PREFIX}/email/verify", params={"token": secret})
    assert page.status_code == 200  # a GET (a mail scanner) spends nothing
    first = await client.post(f"{PREFIX}/email/verifications", json={"token": secret})
    assert first.status_code == 204, first.text
    again = await client.post(f"{PREFIX}/email/verifications", json={"token": secret})
    assert (again.status_code, again.json()["detail"]) == (422, DEAD_LINK)
    me = (await client.get(f"{PREFIX}/me", headers=issuer.headers(user_id, RW))).json()
    assert me["email_verified"] is True
    # The verified address is announced (notification-service mails it from now on).
    [verified] = await events(redis, "user.updated")
    assert verified.data["email"] == me["email"]
    wrong = await client.post(f"{PREFIX}/email/verifications", json={"token": "x" * 43})
    assert (wrong.status_code, wrong.json()["detail"]) == (422, DEAD_LINK)


async def test_expired_and_misused_links_are_refused(
    client: httpx.AsyncClient, redis: Any, mongo: Any
) -> None:
    user_id = await register(client, redis)
    verify = await mailed_secret(redis, "user.verification_requested", user_id)
    # A verification secret is not a reset secret.
    misuse = await client.post(
        f"{PREFIX}/password/resets", json={"token": verify, "password": "a brand new phrase"}
    )
    assert (misuse.status_code, misuse.json()["detail"]) == (422, DEAD_LINK)
    await mongo["one_time_tokens"].update_many({}, {"$set": {"expires_at": _past()}})
    expired = await client.post(f"{PREFIX}/email/verifications", json={"token": verify})
    assert (expired.status_code, expired.json()["detail"]) == (422, DEAD_LINK)


async def test_password_reset_replaces_the_password_once(
    client: httpx.AsyncClient, redis: Any
) -> None:
    user_id = await register(client, redis)
    unknown = await client.post(
        f"{PREFIX}/password/reset-requests", json={"email": "nobody@example.com"}
    )
    known = await client.post(
        f"{PREFIX}/password/reset-requests", json={"email": "ALICE@example.com"}
    )
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    secret = await mailed_secret(redis, "user.password_reset_requested", user_id)

    weak = await client.post(
        f"{PREFIX}/password/resets", json={"token": secret, "password": "password1234"}
    )
    assert weak.status_code == 422  # a rule of passwords, and the link is still good:
    assert weak.json()["detail"] != DEAD_LINK
    new = "a completely new passphrase"
    done = await client.post(f"{PREFIX}/password/resets", json={"token": secret, "password": new})
    assert done.status_code == 204, done.text
    again = await client.post(f"{PREFIX}/password/resets", json={"token": secret, "password": new})
    assert (again.status_code, again.json()["detail"]) == (422, DEAD_LINK)
    assert (await sign_in(client, "alice@example.com")).status_code == 401
    assert (await sign_in(client, "alice@example.com", new)).status_code == 303


def _past() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(seconds=1)


async def test_the_dev_mailbox_exists_in_development_only(
    user_settings: UserSettings, client: httpx.AsyncClient, redis: Any
) -> None:
    assert (
        await client.get(f"{PREFIX}/dev/mailbox", params={"email": "a@b.co"})
    ).status_code == 404
    dev = load_settings(
        UserSettings, {}, **{**user_settings.__dict__, "deepiri_env": "development"}
    )
    app = create_app(dev)
    async with app.lifespan(), client_of(app) as local:
        user_id = await register(local, redis, email="Mail@Example.com")
        [mail] = (
            await local.get(f"{PREFIX}/dev/mailbox", params={"email": "mail@example.com"})
        ).json()
        assert (mail["type"], mail["user_id"]) == ("user.verification_requested", user_id)
        assert mail["link"].startswith("http://issuer.test/api/users/email/verify?token=")
        assert (await local.get(f"{PREFIX}/dev/mailbox", params={"email": "x@y.co"})).json() == []
