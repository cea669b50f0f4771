"""Browser sign-in sessions for the provider's own pages (login, consent)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from user_service.domain import onetime
from user_service.store.sessions import SessionStore


@dataclass(frozen=True)
class Session:
    user_id: str
    auth_time: int  # when the person typed their password (OIDC ``auth_time``)


class Sessions:
    def __init__(self, store: SessionStore, lifetime: timedelta) -> None:
        self.store = store
        self.lifetime = lifetime

    async def start(self, user_id: str) -> str:
        """A new session; the returned secret goes into the cookie and nowhere else."""
        secret = onetime.new_secret()
        await self.store.save(
            onetime.digest(secret), user_id, int(time.time()), int(self.lifetime.total_seconds())
        )
        return secret

    async def current(self, secret: str | None) -> Session | None:
        if not secret:
            return None
        found = await self.store.load(onetime.digest(secret))
        return None if found is None else Session(*found)

    async def end(self, secret: str | None) -> None:
        if secret:
            await self.store.drop(onetime.digest(secret))

    async def end_all(self, user_id: str) -> None:
        await self.store.drop_all(user_id)
