"""Tokens presented to user-service's own API are checked against its own keys, in
process, and against revocation (a revoked grant stops working here at once; other
services see it when the short-lived token expires). Tokens signed by keys we do not hold
go to the kit's verifier (JWKS over HTTP), as in every other service."""

from __future__ import annotations

from typing import Any, Protocol

from deepiri_kit import Principal, Unauthorized
from user_service.service.provider import Provider


class Verifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


def invalid(detail: str) -> Unauthorized:
    return Unauthorized(
        detail,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'},
    )


class LocalVerifier:
    def __init__(self, provider: Provider, fallback: Verifier) -> None:
        self.provider = provider
        self.fallback = fallback

    async def verify(self, token: str) -> Principal:
        claims = self.provider.verify_access(token)
        if claims is None:
            return await self.fallback.verify(token)
        audience: Any = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.provider.audience not in audiences:
            raise invalid("token is for another audience")
        if await self.provider.access_revoked(claims):
            raise invalid("token revoked")
        scope = claims.get("scope", "")
        return Principal(
            subject=str(claims["sub"]),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            client_id=claims.get("client_id"),
            token_id=claims.get("jti"),
            claims=claims,
        )
