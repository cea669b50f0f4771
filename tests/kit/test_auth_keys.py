"""The verifier's key sources: a key set the process holds itself (an authorization server
verifying its own tokens), chained in front of the JWKS; revocation asked on every token;
the JWKS endpoint's failures backed off on the kit's one schedule (``retry.backoff``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from deepiri_kit.auth import JWKSCache, LocalKeys, TokenVerifier
from deepiri_kit.problems import ServiceUnavailable, Unauthorized
from support.tokens import AUDIENCE, ISSUER, TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
ALGS = ["RS256", "ES256"]


@pytest.fixture
def remote() -> Iterator[TokenIssuer]:
    """An issuer known only through its JWKS endpoint (next to the test's own, whose keys the
    process holds and whose endpoint must never be asked)."""
    issuer = TokenIssuer()
    yield issuer
    issuer.close()


def local(issuer: TokenIssuer, **kw: Any) -> TokenVerifier:
    return TokenVerifier(
        LocalKeys(issuer.jwks), issuer=ISSUER, audience=AUDIENCE, algorithms=ALGS, **kw
    )


async def test_own_keys_verify_in_process(own_issuer: TokenIssuer) -> None:
    principal = await local(own_issuer).verify(own_issuer.token("u-1", "users:read"))
    assert principal.subject == "u-1"
    assert principal.scopes == {"users:read"}
    assert own_issuer.jwks_requests == 0
    other = TokenIssuer()  # same issuer name, keys we do not hold
    try:
        with pytest.raises(Unauthorized, match="unknown signing key"):
            await local(own_issuer).verify(other.token())
    finally:
        other.close()


async def test_the_same_checks_apply_to_own_keys(own_issuer: TokenIssuer) -> None:
    v = local(own_issuer)
    with pytest.raises(Unauthorized, match="expired"):
        await v.verify(own_issuer.token(lifetime=-120))
    with pytest.raises(Unauthorized, match="typ"):
        await v.verify(own_issuer.token(typ="JWT"))
    with pytest.raises(Unauthorized, match="rejected"):
        await v.verify(own_issuer.token(aud="another-audience"))
    with pytest.raises(Unauthorized, match="not accepted"):
        await TokenVerifier(
            LocalKeys(own_issuer.jwks), issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"]
        ).verify(own_issuer.token())


async def test_a_key_that_leaves_the_set_verifies_nothing_not_even_what_it_verified(
    own_issuer: TokenIssuer,
) -> None:
    v = local(own_issuer)
    old = own_issuer.current
    token = own_issuer.token("before-rotation")
    assert (await v.verify(token)).subject == "before-rotation"
    new = own_issuer.rotate("EC")
    assert (await v.verify(own_issuer.token("after-rotation"))).subject == "after-rotation"
    assert (await v.verify(token)).subject == "before-rotation"  # still published
    own_issuer.published.remove(old)
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await v.verify(token)
    assert own_issuer.published == [new]


async def test_own_keys_first_then_the_jwks(
    own_issuer: TokenIssuer, remote: TokenIssuer, http: httpx.AsyncClient
) -> None:
    jwks = JWKSCache(remote.jwks_url, http, min_refresh_seconds=0.0)
    platform = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, algorithms=ALGS)
    v = platform.local_first(LocalKeys(own_issuer.jwks))
    assert (await v.verify(own_issuer.token("mine"))).subject == "mine"
    assert remote.jwks_requests == 0  # our own token never leaves the process
    assert (await v.verify(remote.token("theirs"))).subject == "theirs"
    assert remote.jwks_requests == 1
    assert own_issuer.jwks_requests == 0


async def test_revocation_is_asked_about_every_token_cached_or_not(own_issuer: TokenIssuer) -> None:
    revoked: set[str] = set()
    asked: list[str] = []

    async def is_revoked(claims: Mapping[str, Any]) -> bool:
        asked.append(claims["jti"])
        return claims["jti"] in revoked

    v = local(own_issuer, revoked=is_revoked)
    token = own_issuer.token("u-1")
    principal = await v.verify(token)
    assert await v.verify(token) is principal  # verified once, then from the cache
    assert len(asked) == 2
    revoked.add(str(principal.token_id))
    with pytest.raises(Unauthorized, match="revoked") as caught:
        await v.verify(token)
    assert "invalid_token" in caught.value.headers["WWW-Authenticate"]
    # Without the hook (another process's view), the same token still verifies.
    assert (await local(own_issuer).verify(token)).subject == "u-1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_failed_fetches_wait_longer_each_time_up_to_the_limit(
    remote: TokenIssuer, http: httpx.AsyncClient
) -> None:
    clock = Clock()
    jwks = JWKSCache(
        remote.jwks_url,
        http,
        min_refresh_seconds=0.0,
        failure_backoff_seconds=1.0,
        max_backoff_seconds=4.0,
        clock=clock,
    )
    remote.mode = "fail"
    attempts: list[float] = []
    start = clock.now
    while clock.now - start < 16:
        before = remote.jwks_requests
        with pytest.raises(ServiceUnavailable):
            await jwks.key("any")
        if remote.jwks_requests > before:
            attempts.append(clock.now - start)
        clock.now += 0.25
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(attempts)]
    assert gaps[:4] == [1.0, 2.0, 4.0, 4.0]  # doubling from 1 s, never more than 4 s
    assert set(gaps[2:]) == {4.0}
    remote.mode = "ok"
    clock.now += 4.0
    assert await jwks.key(remote.current) is not None
