"""Request and response bodies: strict models (unknown fields are a 400) and their shaping
from domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from deepiri_kit import Model, Out
from user_service.domain.accounts import Account

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
# Long enough for any passphrase; short enough that a megabyte is not hashed.
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Zone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Locale = Annotated[str, msgspec.Meta(min_length=2, max_length=35)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class RegisterIn(Model):
    email: Email
    password: Password
    display_name: Name
    time_zone: Zone = "UTC"
    locale: Locale = "en"


class EmailIn(Model):
    email: Email


class TokenIn(Model):
    token: Secret


class ResetIn(Model):
    token: Secret
    password: Password


class ProfilePatch(Model):
    """Fields left out stay as they are."""

    display_name: Name | None = None
    time_zone: Zone | None = None
    locale: Locale | None = None
    avatar_url: Url | None = None


class AcceptedOut(Out):
    status: str
    detail: str


class MeOut(Out):
    id: str
    email: str
    email_verified: bool
    display_name: str
    time_zone: str
    locale: str
    avatar_url: str | None
    level: int
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> MeOut:
        return cls(
            id=account.id,
            email=account.email,
            email_verified=account.email_verified,
            display_name=account.display_name,
            time_zone=account.time_zone,
            locale=account.locale,
            avatar_url=account.avatar_url,
            level=account.level,
            created_at=account.created_at,
        )


class PublicProfileOut(Out):
    """What anyone may see of an account: never its email, credentials or tokens."""

    id: str
    display_name: str
    avatar_url: str | None
    level: int

    @classmethod
    def of(cls, account: Account) -> PublicProfileOut:
        return cls(
            id=account.id,
            display_name=account.display_name,
            avatar_url=account.avatar_url,
            level=account.level,
        )
