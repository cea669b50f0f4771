"""Token verification against a real JWKS endpoint on loopback."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from deepiri_kit.auth import JWKSCache, TokenVerifier
from deepiri_kit.problems import Unauthorized
from support.tokens import AUDIENCE, ISSUER, TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def verifier(own_issuer: TokenIssuer, http: httpx.AsyncClient, **kw: Any) -> TokenVerifier:
    jwks = JWKSCache(own_issuer.jwks_url, http, min_refresh_seconds=kw.pop("min_refresh", 0.0))
    return TokenVerifier(
        jwks, issuer=ISSUER, audience=AUDIENCE, algorithms=kw.pop("algs", ["RS256", "ES256"])
    )


async def test_valid_token_gives_a_principal(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    principal = await verifier(own_issuer, http).verify(
        own_issuer.token("u-42", "tasks:read tasks:write")
    )
    assert principal.subject == "u-42"
    assert principal.scopes == {"tasks:read", "tasks:write"}
    assert principal.has("tasks:read")
    assert not principal.is_service


async def test_keys_are_cached_and_refetched_for_an_unknown_kid(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(own_issuer, http)
    await v.verify(own_issuer.token())
    await v.verify(own_issuer.token())
    assert v.jwks.fetches == 1
    own_issuer.rotate("EC")  # the authorization server rotates to a new (EC) key
    principal = await v.verify(own_issuer.token("after-rotation"))
    assert principal.subject == "after-rotation"
    assert v.jwks.fetches == 2


async def test_unknown_kid_refetch_is_rate_limited(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(own_issuer, http, min_refresh=60.0)
    await v.verify(own_issuer.token())
    forged = own_issuer.token()
    header, payload, signature = forged.split(".")
    bogus = json.loads(base64.urlsafe_b64decode(header + "=="))
    bogus["kid"] = "nope"
    bogus_header = base64.urlsafe_b64encode(json.dumps(bogus).encode()).rstrip(b"=").decode()
    for _ in range(5):
        with pytest.raises(Unauthorized, match="unknown signing key"):
            await v.verify(f"{bogus_header}.{payload}.{signature}")
    assert v.jwks.fetches == 1  # random kids cannot make us hammer the JWKS endpoint


async def test_algorithm_confusion_and_none_are_rejected(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    own_issuer.rotate("RSA")
    v = verifier(own_issuer, http)
    claims = jwt.decode(own_issuer.token(), options={"verify_signature": False})
    unsigned = jwt.encode(
        claims, None, algorithm="none", headers={"kid": own_issuer.current, "typ": "at+jwt"}
    )
    with pytest.raises(Unauthorized, match="algorithm not accepted"):
        await v.verify(unsigned)
    # HS256 signed with the *public* key as the secret: the classic confusion attack.
    public_pem = (
        own_issuer.keys[own_issuer.current]
        .public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    hs = _hs256(claims, public_pem, {"kid": own_issuer.current, "typ": "at+jwt"})
    with pytest.raises(Unauthorized, match="algorithm not accepted"):
        await v.verify(hs)
    # RS256 is a fine algorithm, but this verifier is pinned to ES256.
    only_es = verifier(own_issuer, http, algs=["ES256"])
    with pytest.raises(Unauthorized, match="algorithm not accepted"):
        await only_es.verify(own_issuer.token())


async def test_wrong_typ_issuer_audience_and_expiry(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(own_issuer, http)
    with pytest.raises(Unauthorized, match="typ"):
        await v.verify(own_issuer.token(typ="JWT"))  # an ID token is not an access token
    with pytest.raises(Unauthorized):
        await v.verify(own_issuer.token(iss="http://evil.test"))
    with pytest.raises(Unauthorized):
        await v.verify(own_issuer.token(aud="another-api"))
    with pytest.raises(Unauthorized, match="expired"):
        await v.verify(own_issuer.token(lifetime=-120))
    with pytest.raises(Unauthorized, match="malformed"):
        await v.verify("a.b")


async def test_service_tokens_are_recognised(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    principal = await verifier(own_issuer, http).verify(
        own_issuer.token("challenge-service", "ratings:write", client_id="challenge-service")
    )
    assert principal.is_service


def _hs256(claims: dict[str, Any], secret: bytes, headers: dict[str, str]) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", **headers}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


async def test_a_verified_token_is_cached_until_it_expires(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(own_issuer, http)
    token = own_issuer.token("cached")
    first = await v.verify(token)
    assert await v.verify(token) is first  # no second signature check
    expired = own_issuer.token("old", lifetime=-120)
    for _ in range(2):  # a rejected token is never cached as good
        with pytest.raises(Unauthorized, match="expired"):
            await v.verify(expired)


# --- a failing or hanging JWKS endpoint is backed off (issue 8, item 11) ------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def backed_off_verifier(
    own_issuer: TokenIssuer, http: httpx.AsyncClient, clock: Clock
) -> TokenVerifier:
    jwks = JWKSCache(
        own_issuer.jwks_url,
        http,
        min_refresh_seconds=0.0,  # the most eager setting: backoff must still hold
        max_age_seconds=300.0,
        fetch_timeout=0.5,
        clock=clock,
    )
    return TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256", "ES256"])


async def test_a_failing_endpoint_is_backed_off_and_known_keys_keep_verifying(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    import asyncio

    clock = Clock()
    v = backed_off_verifier(own_issuer, http, clock)
    await v.verify(own_issuer.token())
    assert own_issuer.jwks_requests == 1
    own_issuer.mode = "fail"
    clock.now += 301  # the key set is now older than its refresh age
    tokens = [own_issuer.token(f"user-{i}") for i in range(200)]  # new tokens: none cached
    principals = await asyncio.gather(*(v.verify(t) for t in tokens))
    assert len(principals) == 200  # every request verified with the key we had
    await asyncio.sleep(0.1)  # let the background refresh finish failing
    for t in [own_issuer.token(f"again-{i}") for i in range(50)]:
        await v.verify(t)
    assert own_issuer.jwks_requests <= 3  # was one fetch per request (200)
    # After the backoff, one more attempt; on success the set is fresh again.
    own_issuer.mode = "ok"
    clock.now += 120
    tried = own_issuer.jwks_requests

    async def refetched() -> bool:
        """a refresh at the issuer after the backoff (a failing one still in flight on a
        loaded machine holds it back until it ends: the next verification starts it)"""
        await v.verify(own_issuer.token("after-backoff"))
        return own_issuer.jwks_requests > tried

    await eventually(refetched)
    fetched = own_issuer.jwks_requests
    await v.verify(own_issuer.token("fresh"))
    assert own_issuer.jwks_requests == fetched


async def test_unknown_kids_share_one_fetch_and_then_back_off(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    import asyncio

    clock = Clock()
    v = backed_off_verifier(own_issuer, http, clock)
    await v.verify(own_issuer.token())
    own_issuer.mode = "fail"
    own_issuer.rotate("EC")  # tokens now carry a kid the cache has never seen
    results = await asyncio.gather(
        *(v.verify(own_issuer.token(f"u-{i}")) for i in range(200)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthorized) for r in results)
    assert own_issuer.jwks_requests == 2  # the first fetch, then one shared attempt for all 200
    clock.now += 0.5  # within the failure backoff: no new attempt
    with pytest.raises(Unauthorized, match="unknown signing key"):
        await v.verify(own_issuer.token("later"))
    assert own_issuer.jwks_requests == 2


async def test_a_hanging_endpoint_neither_queues_nor_blocks_requests(
    own_issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    import asyncio

    clock = Clock()
    v = backed_off_verifier(own_issuer, http, clock)
    await v.verify(own_issuer.token())
    own_issuer.mode = "hang"
    clock.now += 301
    # Known key, stale set: answered at once while one refresh hangs in the background.
    async with asyncio.timeout(20):
        principals = await asyncio.gather(
            *(v.verify(own_issuer.token(f"k-{i}")) for i in range(100))
        )
    assert len(principals) == 100
    # Unknown kid: all wait for the same single fetch, bounded by its timeout (0.5 s), not
    # one timeout after another (which would take 50 s; 20 s leaves a loaded machine room).
    own_issuer.rotate("EC")
    clock.now += 120
    async with asyncio.timeout(20):
        results = await asyncio.gather(
            *(v.verify(own_issuer.token(f"n-{i}")) for i in range(100)), return_exceptions=True
        )
    assert all(isinstance(r, Unauthorized) for r in results)
    assert own_issuer.jwks_requests <= 3
