"""user-service's social graph, asked over HTTP when friendships are rebuilt (the events
keep them current otherwise).

The call is service-to-service: an access token of gamification-service's own client
(client credentials, scope ``social:read``) from user-service's OAuth provider, fetched and
renewed by Authlib's client; the call itself goes through the kit's ``Upstream`` (timeouts,
retries of the idempotent GET, a circuit breaker — user-service down is a 503, never a
hang).
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
import msgspec
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from deepiri_kit import ServiceUnavailable, Upstream

SCOPE = "social:read"


class Friend(msgspec.Struct, frozen=True):
    user_id: str
    version: int  # the number of the pair's newest change in user-service's social log


class FriendList(msgspec.Struct, frozen=True):
    user_id: str
    friends: list[Friend]


class SocialGraphError(RuntimeError):
    """user-service answered something other than a friend list."""


class SocialGraph:
    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.oauth = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            scope=SCOPE,
            token_endpoint=f"{self.base_url}/oauth/token",
            grant_type="client_credentials",  # renewed this way when it expires
            timeout=10.0,
        )
        self.upstream = Upstream("user-service", self.base_url, self.oauth)
        self._token_lock = asyncio.Lock()

    async def friends_of(self, user_id: str) -> dict[str, int]:
        """The user's friends (→ their pair's change number), as user-service has them now.
        ServiceUnavailable when user-service (or its token endpoint) does not answer."""
        path = f"/friends/of/{quote(user_id, safe='')}"
        try:
            await self._ensure_token()
            response = await self.upstream.request("GET", path)
            if response.status_code == 401:  # the token was revoked or the keys rotated away
                await self._ensure_token(renew=True)
                response = await self.upstream.request("GET", path)
        except (httpx.HTTPError, AuthlibBaseError) as exc:
            raise ServiceUnavailable(
                f"no token from user-service: {type(exc).__name__}", upstream="user-service"
            ) from exc
        if response.status_code != 200:
            raise SocialGraphError(
                f"user-service answered {response.status_code} for {user_id!r}'s friends"
            )
        listed = msgspec.json.decode(response.content, type=FriendList)
        return {f.user_id: f.version for f in listed.friends}

    async def _ensure_token(self, *, renew: bool = False) -> None:
        async with self._token_lock:
            if renew or not self.oauth.token:
                await self.oauth.fetch_token(grant_type="client_credentials")

    async def close(self) -> None:
        await self.oauth.aclose()
