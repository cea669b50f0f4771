"""Signing in through the server-rendered page: CSRF, cookies and headers, one answer and
one Argon2id computation for unknown and wrong, throttling, re-hashing."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from deepiri_kit import load_settings
from support.users import PREFIX, client_of, csrf_field, events, register, sign_in
from support.waiting import eventually
from user_service.app import create_app
from user_service.settings import UserSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def hashes(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    found = re.findall(r'deepiri_password_hashes_total\{purpose="(\w+)"\} ([0-9.]+)', text)
    return {purpose: float(n) for purpose, n in found}


async def test_the_page_is_framed_by_nobody_and_posts_need_its_csrf_token(
    client: httpx.AsyncClient, redis: Any
) -> None:
    await register(client, redis)
    page = await client.get(f"{PREFIX}/login")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none'
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    csrf_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in csrf_cookie
    assert "samesite=strict" in csrf_cookie
    form = {"email": "alice@example.com", "password": "correct horse battery staple"}
    missing = await client.post(f"{PREFIX}/login", data=form)
    forged = await client.post(f"{PREFIX}/login", data={**form, "csrf": "forged"})
    assert missing.status_code == forged.status_code == 403
    assert "deepiri_session" not in client.cookies

    signed_in = await client.post(f"{PREFIX}/login", data={**form, "csrf": csrf_field(page.text)})
    assert signed_in.status_code == 303
    session_cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in session_cookie
    assert "samesite=lax" in session_cookie
    assert "path=/api/users" in session_cookie
    assert "Signed in as" in (await client.get(f"{PREFIX}/login")).text

    page = await client.get(f"{PREFIX}/login")
    out = await client.post(f"{PREFIX}/logout", data={"csrf": csrf_field(page.text)})
    assert out.status_code == 303
    assert "Signed in as" not in (await client.get(f"{PREFIX}/login")).text


async def test_next_only_leads_back_into_the_service(client: httpx.AsyncClient, redis: Any) -> None:
    await register(client, redis)
    inside = f"{PREFIX}/login?from=test"
    response = await sign_in(client, "alice@example.com", next=inside)
    assert response.headers["location"] == inside
    for outside in ("https://evil.example/", "//evil.example/api/users/x", "/elsewhere"):
        client.cookies.clear()
        response = await sign_in(client, "alice@example.com", next=outside)
        assert response.headers["location"] == f"{PREFIX}/login"


async def test_unknown_email_and_wrong_password_look_and_cost_the_same(
    client: httpx.AsyncClient, redis: Any
) -> None:
    await register(client, redis)
    before = await hashes(client)
    wrong = await sign_in(client, "alice@example.com", "not the right passphrase")
    after_wrong = await hashes(client)
    unknown = await sign_in(client, "nobody@example.com", "not the right passphrase")
    after_unknown = await hashes(client)
    assert wrong.status_code == unknown.status_code == 401
    error = re.compile(r'<p class="error" role="alert">([^<]*)</p>')
    assert (
        error.findall(wrong.text)
        == error.findall(unknown.text)
        == ["the email or the password is wrong"]
    )
    # One Argon2id verification each: against the stored hash, or against the decoy.
    assert after_wrong.get("verify", 0) - before.get("verify", 0) == 1
    assert after_unknown.get("decoy", 0) - after_wrong.get("decoy", 0) == 1
    assert "not the right passphrase" not in wrong.text + unknown.text


@pytest.fixture
async def slow_locks(user_settings: UserSettings, redis: Any) -> AsyncIterator[Litestar]:
    """Locks of 30 s and more: a busy machine cannot outlast one between two requests."""
    slow = load_settings(
        UserSettings, {}, **{**user_settings.__dict__, "login_lock_base_seconds": 30.0}
    )
    app = create_app(slow)
    async with app.lifespan():
        yield app


async def test_an_account_is_locked_after_repeated_failures_then_429_with_retry_after(
    slow_locks: Litestar, redis: Any
) -> None:
    async with client_of(slow_locks) as client:
        await register(client, redis)
        statuses = [
            (await sign_in(client, "alice@example.com", "wrong guess number x")).status_code
            for _ in range(6)
        ]
        assert statuses == [401] * 6  # the sixth failure locks the account for 30 s
        locked = await sign_in(client, "alice@example.com")  # even the right password waits
        assert locked.status_code == 429
        assert 1 <= int(locked.headers["retry-after"]) <= 30
        # Another address is locked out of this account too: the lock is per account.
        async with client_of(slow_locks, "198.51.100.7") as elsewhere:
            assert (await sign_in(elsewhere, "alice@example.com")).status_code == 429


async def test_the_lock_ends_after_its_back_off(client: httpx.AsyncClient, redis: Any) -> None:
    await register(client, redis)
    for _ in range(6):  # the sixth failure locks the account for 1 s
        await sign_in(client, "alice@example.com", "wrong guess number x")

    async def unlocked() -> bool:
        return (await sign_in(client, "alice@example.com")).status_code == 303

    await eventually(unlocked)


async def test_an_address_is_locked_after_many_failures_across_accounts(
    slow_locks: Litestar, redis: Any
) -> None:
    async with client_of(slow_locks) as client:
        await register(client, redis)
        for n in range(21):  # 20 free failures, each on another (unknown) account
            response = await sign_in(client, f"guess{n}@example.com", "wrong guess number x")
            assert response.status_code == 401
        assert (await sign_in(client, "alice@example.com")).status_code == 429
        async with client_of(slow_locks, "198.51.100.7") as elsewhere:
            assert (await sign_in(elsewhere, "alice@example.com")).status_code == 303


async def test_changed_parameters_rehash_at_the_next_sign_in(
    user_settings: UserSettings, client: httpx.AsyncClient, redis: Any, mongo: Any
) -> None:
    user_id = await register(client, redis)
    old = (await mongo["credentials"].find_one({"_id": user_id}))["hash"]
    stronger = load_settings(UserSettings, {}, **{**user_settings.__dict__, "argon2_time_cost": 3})
    app = create_app(stronger)
    async with app.lifespan(), client_of(app) as other:
        assert (await sign_in(other, "alice@example.com")).status_code == 303
    new = (await mongo["credentials"].find_one({"_id": user_id}))["hash"]
    assert old.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert new.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
    assert (await sign_in(client, "alice@example.com")).status_code == 303  # still valid


async def test_the_signup_page_registers_and_answers_alike_for_a_taken_address(
    client: httpx.AsyncClient, redis: Any
) -> None:
    async def sign_up(email: str, password: str) -> httpx.Response:
        page = await client.get(f"{PREFIX}/signup", params={"next": f"{PREFIX}/login"})
        form = {
            "csrf": csrf_field(page.text),
            "email": email,
            "password": password,
            "display_name": "Bob",
            "time_zone": "America/New_York",
            "locale": "en-US",
            "next": f"{PREFIX}/login",
        }
        return await client.post(f"{PREFIX}/signup", data=form)

    first = await sign_up("bob@example.com", "a long enough passphrase")
    taken = await sign_up("BOB@example.com", "another long passphrase")
    assert first.status_code == taken.status_code == 200
    assert "Check your mail" in first.text
    assert first.text == taken.text.replace(_nonce(taken.text), _nonce(first.text))
    weak = await sign_up("carol@example.com", "password1234")
    assert weak.status_code == 422
    assert "most commonly used" in weak.text
    assert len(await events(redis, "user.registered")) == 1
    assert (await sign_in(client, "bob@example.com", "a long enough passphrase")).status_code == 303


def _nonce(html: str) -> str:
    match = re.search(r'nonce="([^"]+)"', html)
    assert match
    return match.group(1)


async def test_cookies_are_secure_when_the_issuer_is_https(
    user_settings: UserSettings, redis: Any
) -> None:
    https = load_settings(
        UserSettings, {}, **{**user_settings.__dict__, "jwt_issuer": "https://id.example/api/users"}
    )
    app = create_app(https)
    async with app.lifespan(), client_of(app) as client:
        page = await client.get(f"{PREFIX}/login")
        assert "secure" in page.headers["set-cookie"].lower()
        discovery = (await client.get(f"{PREFIX}/.well-known/openid-configuration")).json()
        assert discovery["authorization_endpoint"] == "https://id.example/api/users/oauth/authorize"


async def test_answers_that_could_enumerate_take_the_same_floor(
    user_settings: UserSettings, redis: Any
) -> None:
    """Known and unknown addresses: no answer comes sooner than the floor (250 ms by
    default), which is longer than the few writes that tell the paths apart."""
    real = load_settings(UserSettings, {}, **{**user_settings.__dict__, "answer_floor_ms": 250})
    app = create_app(real)
    async with app.lifespan(), client_of(app) as client:
        await register(client, redis)
        calls = {
            "sign-in, wrong password": lambda: sign_in(client, "alice@example.com", "x" * 12),
            "sign-in, unknown": lambda: sign_in(client, "nobody@example.com", "x" * 12),
            "reset, known": lambda: client.post(
                f"{PREFIX}/password/reset-requests", json={"email": "alice@example.com"}
            ),
            "reset, unknown": lambda: client.post(
                f"{PREFIX}/password/reset-requests", json={"email": "nobody@example.com"}
            ),
            "register, taken": lambda: client.post(
                f"{PREFIX}/register",
                json={
                    "email": "alice@example.com",
                    "password": "p" * 3 + " a b c d e f",
                    "display_name": "A",
                },
            ),
        }
        for name, call in calls.items():
            start = time.monotonic()
            response = await call()
            assert response.status_code in (202, 303, 401), (name, response.text)
            assert time.monotonic() - start >= 0.25, name
