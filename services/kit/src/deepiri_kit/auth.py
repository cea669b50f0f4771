"""Access-token verification (RFC 9068 JWTs), and scope guards. One verifier for every
service: :class:`TokenVerifier` checks a token against a key source —

* :class:`JWKSCache`, user-service's JWKS over HTTP (every other service): keys are cached;
  an unknown ``kid`` triggers one refetch (rate-limited, so random kids cannot turn us into
  a JWKS flood);
* :class:`LocalKeys`, a key set the process holds itself (user-service verifying the tokens
  it issued, in process), in front of the JWKS (:meth:`TokenVerifier.local_first`).

Algorithms are pinned: the token's ``alg`` must be in the allowed list *and* equal the key's
algorithm, which rules out ``none`` and HS/RS confusion.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import jwt
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from deepiri_kit.problems import (
    InsufficientScope,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from deepiri_kit.retry import backoff

log = logging.getLogger("deepiri.auth")
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


def invalid_token(detail: str) -> Unauthorized:
    """RFC 6750 §3.1: the 401 for a token that is malformed, expired, revoked or not ours."""
    return Unauthorized(
        detail,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'},
    )


class KeySource(Protocol):
    """Where a verifier finds the key a token's header names."""

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The signing key ``kid``; None when the source does not know it."""
        ...


def signing_key(entry: Mapping[str, Any]) -> jwt.PyJWK | None:
    """One JWKS entry as a verification key; None for an entry that is not a signing key
    or has an algorithm we do not support (that key is skipped, not the whole set)."""
    if entry.get("use", "sig") != "sig" or "kid" not in entry:
        return None
    try:
        return jwt.PyJWK(dict(entry))
    except jwt.PyJWTError:
        return None


class LocalKeys:
    """The keys of an authorization server that verifies the tokens it issued in process:
    ``published()`` returns its JWKS document as it stands now (keys come and go with
    rotation; a key no longer published no longer verifies)."""

    def __init__(self, published: Callable[[], Mapping[str, Any]]) -> None:
        self.published = published
        self._parsed: dict[str, tuple[Mapping[str, Any], jwt.PyJWK]] = {}  # kid: entry, key

    async def key(self, kid: str) -> jwt.PyJWK | None:
        entries = {e.get("kid"): e for e in self.published().get("keys", [])}
        entry = entries.get(kid)
        if entry is None:
            return None
        parsed = self._parsed.get(kid)
        if parsed is not None and parsed[0] == entry:
            return parsed[1]
        key = signing_key(entry)
        if key is not None:
            # Parsing a key costs more than a lookup: keep the published ones parsed.
            self._parsed = {k: v for k, v in self._parsed.items() if k in entries}
            self._parsed[kid] = (entry, key)
        return key


class KeyChain:
    """Several key sources, asked in order (the first that knows a ``kid`` answers)."""

    def __init__(self, *sources: KeySource) -> None:
        self.sources = sources

    async def key(self, kid: str) -> jwt.PyJWK | None:
        for source in self.sources:
            key = await source.key(kid)
            if key is not None:
                return key
        return None


class JWKSCache:
    """The authorization server's signing keys.

    One fetch at a time (concurrent requests share it: single-flight), each bounded by
    ``fetch_timeout``. Every attempt, failed or not, starts the clock for the next one: after
    a success the next may come ``min_refresh_seconds`` later (for an unknown ``kid``), after
    failures the wait doubles from ``failure_backoff_seconds`` up to ``max_backoff_seconds``.
    Known keys are always served: a stale set is refreshed in the background, and a failing
    or hanging endpoint only delays requests whose ``kid`` we do not know, never others.
    """

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        min_refresh_seconds: float = 10.0,
        max_age_seconds: float = 300.0,
        fetch_timeout: float = 3.0,
        failure_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.http = http
        self.min_refresh_seconds = min_refresh_seconds
        self.max_age_seconds = max_age_seconds
        self.fetch_timeout = fetch_timeout
        self.failure_backoff_seconds = failure_backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last success
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._failures = 0  # consecutive
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0  # attempts (for tests and metrics)

    async def key(self, kid: str) -> jwt.PyJWK | None:
        now = self.clock()
        known = self._keys.get(kid)
        if known is not None:
            stale = self._fetched_at is None or now - self._fetched_at > self.max_age_seconds
            if stale and self._may_attempt(now):
                self._start(now)  # in the background: the key we have still verifies
            return known
        if self._inflight is not None or self._may_attempt(now):
            if self._inflight is None:
                self._start(now)
            assert self._inflight is not None
            # Shielded: one caller giving up must not cancel the fetch the others wait for.
            await asyncio.shield(self._inflight)
            known = self._keys.get(kid)
            if known is not None:
                return known
        if not self._keys:
            raise ServiceUnavailable("the authorization server's keys are unavailable")
        return None

    def _may_attempt(self, now: float) -> bool:
        if self._inflight is not None:
            return False  # one fetch at a time
        if self._attempted_at is None:
            return True
        if self._failures:
            first = max(self.failure_backoff_seconds, self.min_refresh_seconds)
            wait = backoff(self._failures, first=first, limit=self.max_backoff_seconds)
        else:
            wait = self.min_refresh_seconds
        return now - self._attempted_at >= wait

    def _start(self, now: float) -> None:
        self._attempted_at = now
        self._inflight = asyncio.get_running_loop().create_task(self._fetch())

    async def _fetch(self) -> None:
        try:
            self.fetches += 1
            async with asyncio.timeout(self.fetch_timeout):  # the whole fetch, not per read
                response = await self.http.get(self.url, timeout=self.fetch_timeout)
            response.raise_for_status()
            document = response.json()
            keys: dict[str, jwt.PyJWK] = {}
            for entry in document.get("keys", []):
                key = signing_key(entry)
                if key is not None:
                    keys[entry["kid"]] = key
        except (httpx.HTTPError, TimeoutError, ValueError, AttributeError, TypeError) as exc:
            self._failures += 1
            log.warning("JWKS fetch failed (%d in a row): %s", self._failures, exc)
        else:
            self._keys = keys
            self._fetched_at = self.clock()
            self._failures = 0
        finally:
            self._inflight = None


Revoked = Callable[[Mapping[str, Any]], Awaitable[bool]]


class TokenVerifier:
    """Verifies RFC 9068 access tokens of ``issuer`` for ``audience``, signed by a key of
    ``jwks`` (any :class:`KeySource`). ``revoked``: asked about every token, verified now or
    earlier (an issuer that knows its revocations makes them count at once)."""

    def __init__(
        self,
        jwks: KeySource,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str],
        revoked: Revoked | None = None,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.algorithms = frozenset(a.strip() for a in algorithms if a.strip())
        self.revoked = revoked
        # Clients send the same token for minutes; verifying its signature once is enough.
        self._verified: OrderedDict[str, tuple[float, str, Principal]] = OrderedDict()

    def local_first(self, keys: KeySource, *, revoked: Revoked | None = None) -> TokenVerifier:
        """The same checks, with ``keys`` (the process's own, e.g. :class:`LocalKeys`) asked
        before this verifier's source."""
        return TokenVerifier(
            KeyChain(keys, self.jwks),
            issuer=self.issuer,
            audience=self.audience,
            algorithms=self.algorithms,
            revoked=revoked,
        )

    async def verify(self, token: str) -> Principal:
        principal = await self._verified_once(token)
        if self.revoked is not None and await self.revoked(principal.claims):
            raise invalid_token("token revoked")
        return principal

    async def _verified_once(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            expires_at, kid, principal = cached
            # Until it expires, and while its key is still published (a key that left the
            # set verifies nothing, not even what it verified before).
            if time.time() < expires_at and await self.jwks.key(kid) is not None:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, kid = await self._verify_signature(token)
        self._verified[token] = (float(principal.claims["exp"]), kid, principal)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def _verify_signature(self, token: str) -> tuple[Principal, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid_token("malformed token") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise invalid_token("token algorithm not accepted")
        if str(header.get("typ", "")).lower() not in ACCEPTED_TYP:
            raise invalid_token("not an access token (typ must be at+jwt)")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise invalid_token("token has no key id")
        key = await self.jwks.key(kid)
        if key is None:
            raise invalid_token("unknown signing key")
        if key.algorithm_name != alg:
            raise invalid_token("token algorithm does not match its key")
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
            raise invalid_token("token expired") from None
        except (jwt.PyJWTError, OverflowError, TypeError, ValueError) as exc:
            # PyJWT's own checks trip over ill-typed claims (int(inf), `in` on a list, …).
            raise invalid_token(f"token rejected: {exc}") from None
        _check_registered_claims(claims)
        scope = claims.get("scope", "")
        principal = Principal(
            subject=str(claims["sub"]),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            client_id=claims.get("client_id"),
            token_id=claims.get("jti"),
            claims=claims,
        )
        return principal, kid


_NUMERIC_DATES = ("exp", "iat", "nbf")
_STRINGS = ("sub", "iss", "jti", "client_id", "scope")


def _check_registered_claims(claims: Mapping[str, Any]) -> None:
    """RFC 7519 §2/§4.1: times are finite JSON numbers, names are strings. PyJWT coerces
    ``"exp": "9999999999"`` with ``int()``; a token that says it that way is refused."""
    for name in _NUMERIC_DATES:
        value = claims.get(name)
        if name in claims and not (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ):
            raise invalid_token(f"token claim {name} is not a NumericDate")
    for name in _STRINGS:
        if name in claims and not isinstance(claims[name], str):
            raise invalid_token(f"token claim {name} is not a string")
    aud = claims.get("aud")
    if not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        raise invalid_token("token claim aud is not a string or a list of strings")


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Puts a :class:`Principal` on ``request.user``; routes opt out with ``opt={"public": True}``."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        try:
            principal, token = await _authenticate(connection)
        except Unauthorized:
            # Without a valid token there is no caller to limit, only an address: limit that,
            # or bad tokens could be sent (and verified) without end.
            await _limit_by_address(connection)
            raise
        return AuthenticationResult(user=principal, auth=token)


async def _authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[Principal, str]:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "a bearer access token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    verifier: TokenVerifier = connection.app.state.token_verifier
    return await verifier.verify(token.strip()), token


async def _limit_by_address(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    platform = connection.app.state.get("platform")
    limiter = getattr(platform, "limiter", None)
    if limiter is None:
        return
    from deepiri_kit.ratelimit import address_key

    verdict = await limiter.check(address_key(connection.scope))
    if verdict is not None and not verdict.allowed:
        raise TooManyRequests(
            f"too many requests without a valid token; retry in {verdict.retry_after}s",
            headers={
                "Retry-After": str(verdict.retry_after),
                **{k.decode(): v.decode() for k, v in verdict.headers},
            },
        )


def requires_scopes(
    *scopes: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """Guard: the caller's token must carry every one of ``scopes`` (403 otherwise)."""
    needed = frozenset(scopes)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # unauthenticated by design (the auth middleware skips it): lists methods only
        principal: Principal = connection.user
        missing = needed - principal.scopes
        if missing:
            wanted = " ".join(sorted(needed))
            raise InsufficientScope(
                f"this operation requires the scope(s): {wanted}",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{wanted}"'
                },
                missing_scopes=sorted(missing),
            )

    return guard
