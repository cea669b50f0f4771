"""Registered claims must have their registered types (RFC 7519 §4.1): a token that spells
``exp`` as a string, or ``sub`` as a number, is refused — not coerced into something valid."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from deepiri_kit.auth import JWKSCache, TokenVerifier
from deepiri_kit.problems import Unauthorized
from support.tokens import AUDIENCE, ISSUER, TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

NOW = int(time.time())
LATER = NOW + 3600


def case(claims: dict[str, Any]) -> str:
    """The case's name without the clock's values: every collection (each pytest-xdist worker
    collects on its own) must name the tests alike."""
    return repr(claims).replace(str(LATER), "LATER").replace(str(NOW), "NOW")


@pytest.fixture
async def verifier(issuer: TokenIssuer) -> AsyncIterator[TokenVerifier]:
    async with httpx.AsyncClient() as http:
        jwks = JWKSCache(issuer.jwks_url, http, min_refresh_seconds=0.0)
        yield TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256", "ES256"])


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(LATER)},  # the reported case: PyJWT alone accepts it via int()
        {"exp": float("inf")},
        {"exp": True},
        {"exp": None},
        {"exp": [LATER]},
        {"iat": str(NOW)},
        {"nbf": "0"},
        {"sub": 42},
        {"sub": ["alice"]},
        {"aud": 7},
        {"aud": [AUDIENCE, 7]},
        {"jti": 123},
        {"client_id": {"id": "x"}},
        {"scope": ["tasks:read"]},
    ],
    ids=case,
)
async def test_malformed_registered_claims_are_rejected(
    issuer: TokenIssuer, verifier: TokenVerifier, claims: dict[str, Any]
) -> None:
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(issuer.token("alice", "tasks:read", **claims))
    assert "invalid_token" in caught.value.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "claims", [{}, {"exp": LATER + 0.5}, {"aud": [AUDIENCE, "other"]}, {"nbf": 0}], ids=case
)
async def test_well_typed_claims_are_accepted(
    issuer: TokenIssuer, verifier: TokenVerifier, claims: dict[str, Any]
) -> None:
    principal = await verifier.verify(issuer.token("alice", "tasks:read", **claims))
    assert principal.subject == "alice"
