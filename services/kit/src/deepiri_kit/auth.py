"""Access-token verification (RFC 9068 JWTs) against user-service's JWKS, and scope guards.

Keys are cached; an unknown ``kid`` triggers one refetch (rate-limited, so random kids
cannot turn us into a JWKS flood). Algorithms are pinned: the token's ``alg`` must be in the
allowed list *and* equal the key's algorithm, which rules out ``none`` and HS/RS confusion.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from deepiri_kit.problems import Forbidden, ServiceUnavailable, Unauthorized

ACCEPTED_TYP = {"at+jwt", "application/at+jwt"}
CLOCK_SKEW_SECONDS = 30
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (``sub`` = user id) or a service (client credentials)."""

    subject: str
    scopes: frozenset[str]
    client_id: str | None = None
    token_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_service(self) -> bool:
        # RFC 9068: for client-credentials tokens the subject is the client itself.
        return self.client_id is not None and self.subject == self.client_id

    def has(self, *scopes: str) -> bool:
        return set(scopes) <= self.scopes


def _invalid(detail: str) -> Unauthorized:
    return Unauthorized(
        detail,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'},
    )


class JWKSCache:
    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        min_refresh_seconds: float = 10.0,
        max_age_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.http = http
        self.min_refresh_seconds = min_refresh_seconds
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str) -> jwt.PyJWK:
        now = self.clock()
        stale = self._fetched_at is None or now - self._fetched_at > self.max_age_seconds
        if stale or (kid not in self._keys and self._may_refresh(now)):
            await self._refresh(kid)
        try:
            return self._keys[kid]
        except KeyError:
            raise _invalid("unknown signing key") from None

    def _may_refresh(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.min_refresh_seconds

    async def _refresh(self, kid: str) -> None:
        async with self._lock:
            # Another request may have refreshed while we waited for the lock.
            now = self.clock()
            fresh = self._fetched_at is not None and now - self._fetched_at <= self.max_age_seconds
            if fresh and (kid in self._keys or not self._may_refresh(now)):
                return
            try:
                response = await self.http.get(self.url, timeout=3.0)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                if self._keys:  # keep verifying with the keys we have
                    return
                raise ServiceUnavailable("the authorization server's keys are unavailable") from exc
            keys: dict[str, jwt.PyJWK] = {}
            for entry in document.get("keys", []):
                if entry.get("use", "sig") != "sig" or "kid" not in entry:
                    continue
                try:
                    keys[entry["kid"]] = jwt.PyJWK(entry)
                except jwt.PyJWTError:
                    continue  # an algorithm we do not support; skip that key only
            self._keys = keys
            self._fetched_at = now
            self.fetches += 1


class TokenVerifier:
    def __init__(
        self, jwks: JWKSCache, *, issuer: str, audience: str, algorithms: Iterable[str]
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.algorithms = frozenset(a.strip() for a in algorithms if a.strip())
        # Clients send the same token for minutes; verifying its signature once is enough.
        self._verified: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            expires_at, principal = cached
            if time.time() < expires_at:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal = await self._verify_signature(token)
        self._verified[token] = (float(principal.claims["exp"]), principal)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def _verify_signature(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("malformed token") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise _invalid("token algorithm not accepted")
        if str(header.get("typ", "")).lower() not in ACCEPTED_TYP:
            raise _invalid("not an access token (typ must be at+jwt)")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise _invalid("token has no key id")
        key = await self.jwks.key(kid)
        if key.algorithm_name != alg:
            raise _invalid("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _invalid("token expired") from None
        except jwt.PyJWTError as exc:
            raise _invalid(f"token rejected: {exc}") from None
        scope = claims.get("scope", "")
        return Principal(
            subject=str(claims["sub"]),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            client_id=claims.get("client_id"),
            token_id=claims.get("jti"),
            claims=claims,
        )


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Puts a :class:`Principal` on ``request.user``; routes opt out with ``opt={"public": True}``."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "a bearer access token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        verifier: TokenVerifier = connection.app.state.token_verifier
        principal = await verifier.verify(token.strip())
        return AuthenticationResult(user=principal, auth=token)


def requires_scopes(
    *scopes: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """Guard: the caller's token must carry every one of ``scopes`` (403 otherwise)."""
    needed = frozenset(scopes)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal: Principal = connection.user
        missing = needed - principal.scopes
        if missing:
            wanted = " ".join(sorted(needed))
            raise Forbidden(
                f"this operation requires the scope(s): {wanted}",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{wanted}"'
                },
                missing_scopes=sorted(missing),
            )

    return guard
