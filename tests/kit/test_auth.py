"""Token verification against a real JWKS endpoint on loopback."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from deepiri_kit.auth import JWKSCache, TokenVerifier
from deepiri_kit.problems import Unauthorized
from support.tokens import AUDIENCE, ISSUER, TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def verifier(issuer: TokenIssuer, http: httpx.AsyncClient, **kw: Any) -> TokenVerifier:
    jwks = JWKSCache(issuer.jwks_url, http, min_refresh_seconds=kw.pop("min_refresh", 0.0))
    return TokenVerifier(
        jwks, issuer=ISSUER, audience=AUDIENCE, algorithms=kw.pop("algs", ["RS256", "ES256"])
    )


async def test_valid_token_gives_a_principal(issuer: TokenIssuer, http: httpx.AsyncClient) -> None:
    principal = await verifier(issuer, http).verify(issuer.token("u-42", "tasks:read tasks:write"))
    assert principal.subject == "u-42"
    assert principal.scopes == {"tasks:read", "tasks:write"}
    assert principal.has("tasks:read")
    assert not principal.is_service


async def test_keys_are_cached_and_refetched_for_an_unknown_kid(
    issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(issuer, http)
    await v.verify(issuer.token())
    await v.verify(issuer.token())
    assert v.jwks.fetches == 1
    issuer.rotate("EC")  # the authorization server rotates to a new (EC) key
    principal = await v.verify(issuer.token("after-rotation"))
    assert principal.subject == "after-rotation"
    assert v.jwks.fetches == 2


async def test_unknown_kid_refetch_is_rate_limited(
    issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(issuer, http, min_refresh=60.0)
    await v.verify(issuer.token())
    forged = issuer.token()
    header, payload, signature = forged.split(".")
    bogus = json.loads(base64.urlsafe_b64decode(header + "=="))
    bogus["kid"] = "nope"
    bogus_header = base64.urlsafe_b64encode(json.dumps(bogus).encode()).rstrip(b"=").decode()
    for _ in range(5):
        with pytest.raises(Unauthorized, match="unknown signing key"):
            await v.verify(f"{bogus_header}.{payload}.{signature}")
    assert v.jwks.fetches == 1  # random kids cannot make us hammer the JWKS endpoint


async def test_algorithm_confusion_and_none_are_rejected(
    issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    issuer.rotate("RSA")
    v = verifier(issuer, http)
    claims = jwt.decode(issuer.token(), options={"verify_signature": False})
    unsigned = jwt.encode(
        claims, None, algorithm="none", headers={"kid": issuer.current, "typ": "at+jwt"}
    )
    with pytest.raises(Unauthorized, match="algorithm not accepted"):
        await v.verify(unsigned)
    # HS256 signed with the *public* key as the secret: the classic confusion attack.
    public_pem = (
        issuer.keys[issuer.current]
        .public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    hs = _hs256(claims, public_pem, {"kid": issuer.current, "typ": "at+jwt"})
    with pytest.raises(Unauthorized, match="algorithm not accepted"):
        await v.verify(hs)
    # RS256 is a fine algorithm, but this verifier is pinned to ES256.
    only_es = verifier(issuer, http, algs=["ES256"])
    with pytest.raises(Unauthorized, match="algorithm not accepted"):
        await only_es.verify(issuer.token())


async def test_wrong_typ_issuer_audience_and_expiry(
    issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(issuer, http)
    with pytest.raises(Unauthorized, match="typ"):
        await v.verify(issuer.token(typ="JWT"))  # an ID token is not an access token
    with pytest.raises(Unauthorized):
        await v.verify(issuer.token(iss="http://evil.test"))
    with pytest.raises(Unauthorized):
        await v.verify(issuer.token(aud="another-api"))
    with pytest.raises(Unauthorized, match="expired"):
        await v.verify(issuer.token(lifetime=-120))
    with pytest.raises(Unauthorized, match="malformed"):
        await v.verify("a.b")


async def test_service_tokens_are_recognised(issuer: TokenIssuer, http: httpx.AsyncClient) -> None:
    principal = await verifier(issuer, http).verify(
        issuer.token("challenge-service", "ratings:write", client_id="challenge-service")
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
    issuer: TokenIssuer, http: httpx.AsyncClient
) -> None:
    v = verifier(issuer, http)
    token = issuer.token("cached")
    first = await v.verify(token)
    assert await v.verify(token) is first  # no second signature check
    expired = issuer.token("old", lifetime=-120)
    for _ in range(2):  # a rejected token is never cached as good
        with pytest.raises(Unauthorized, match="expired"):
            await v.verify(expired)
