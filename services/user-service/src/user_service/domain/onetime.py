"""One-time secrets (email verification, password reset, sessions): random, sent once,
stored only as their SHA-256 digest so a database reader cannot use them."""

from __future__ import annotations

import hashlib
import secrets as _random
from datetime import datetime, timedelta

SECRET_BYTES = 32


def new_secret() -> str:
    return _random.token_urlsafe(SECRET_BYTES)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at


def expiry(now: datetime, lifetime: timedelta) -> datetime:
    return now + lifetime
