"""ai-service, called for a challenge (ARCHITECTURE §4: the one synchronous call this service
makes), with a client-credentials token from user-service carrying ``agent:invoke``.

Both calls go through the kit's :class:`~deepiri_kit.Upstream` (timeouts, a circuit breaker):
an unreachable or failing ai-service or token endpoint is a 503 problem with ``Retry-After``
for the caller, and nothing is written.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import msgspec

from deepiri_kit import ServiceUnavailable, Upstream
from deepiri_kit.contracts.agent import (
    CHALLENGES_PATH,
    SCOPE,
    ChallengeRequest,
    GeneratedChallenge,
    challenge_violations,
)

# A token is renewed this long before it expires, so none expires in flight.
EARLY_SECONDS = 30.0


class TokenSource:
    """A client-credentials access token, fetched once and reused until it nearly expires."""

    def __init__(self, upstream: Upstream, path: str, client_id: str, secret: str) -> None:
        self.upstream = upstream
        self.path = path
        self.auth = httpx.BasicAuth(client_id, secret)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._token, lifetime = await self._fetch()
                self._expires = time.monotonic() + max(0.0, lifetime - EARLY_SECONDS)
            return self._token

    def forget(self) -> None:
        self._token = None

    async def _fetch(self) -> tuple[str, float]:
        response = await self.upstream.request(
            "POST",
            self.path,
            data={"grant_type": "client_credentials", "scope": SCOPE},
            auth=self.auth,
        )
        if response.status_code != 200:
            # Misconfigured credentials are an outage of this feature, not the caller's fault.
            raise ServiceUnavailable(
                f"no {SCOPE} token from user-service (HTTP {response.status_code})",
                upstream=self.upstream.name,
            )
        body = response.json()
        return str(body["access_token"]), float(body.get("expires_in", 300))


class Agent:
    """``POST /api/agent/challenges``: one challenge generated for a player."""

    def __init__(self, upstream: Upstream, tokens: TokenSource) -> None:
        self.upstream = upstream
        self.tokens = tokens

    async def challenge(self, request: ChallengeRequest) -> GeneratedChallenge:
        for attempt in range(2):
            headers = {
                "Authorization": f"Bearer {await self.tokens.token()}",
                "Content-Type": "application/json",
            }
            response = await self.upstream.request(
                "POST", CHALLENGES_PATH, content=msgspec.json.encode(request), headers=headers
            )
            if response.status_code == 401 and attempt == 0:
                self.tokens.forget()  # revoked or rotated: fetch a new one once
                continue
            break
        if response.status_code != 200:
            raise ServiceUnavailable(
                f"ai-service refused to generate (HTTP {response.status_code})",
                upstream=self.upstream.name,
            )
        try:
            generated = msgspec.json.decode(response.content, type=GeneratedChallenge)
        except msgspec.ValidationError as exc:
            raise ServiceUnavailable(
                f"ai-service answered outside its contract: {exc}", upstream=self.upstream.name
            ) from None
        if problems := challenge_violations(generated, request):
            raise ServiceUnavailable(
                f"ai-service answered what the platform does not allow: {'; '.join(problems)}",
                upstream=self.upstream.name,
            )
        return generated
