"""Accounts: who a person is on Deepiri, and the rules their details follow."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Literal

from deepiri_kit.errors import Invalid

MAX_EMAIL = 254  # RFC 5321's path limit, less the angle brackets
MAX_DISPLAY_NAME = 100
# BCP 47 as people use it: language, optional script, optional region (en, pt-BR, zh-Hant-TW).
LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?$")


# Who may see a person (profile, search, suggestions, lists): everyone, their friends, or no
# one but themselves (domain/social.may_see).
Visibility = Literal["public", "friends", "private"]
VISIBILITIES: tuple[Visibility, ...] = ("public", "friends", "private")


class InvalidAccount(Invalid):
    """Well-formed input that breaks an account rule."""


@dataclass(frozen=True)
class Account:
    id: str
    email: str  # normalised: the key people sign in with
    display_name: str
    time_zone: str
    locale: str
    created_at: datetime
    email_verified: bool = False
    avatar_url: str | None = None
    level: int = 1
    roles: tuple[str, ...] = ()
    deleted: bool = False
    visibility: Visibility = "public"


def normalise_email(raw: str) -> str:
    """Addresses match case-insensitively (the whole address: no provider treats two
    spellings of one mailbox as two people in practice), after Unicode NFKC."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or domain.startswith(".")
        or domain.endswith(".")
        or len(email) > MAX_EMAIL
        or any(c.isspace() or unicodedata.category(c)[0] == "C" for c in email)
    ):
        raise InvalidAccount("email is not a valid address")
    return email


def clean_display_name(raw: str) -> str:
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise InvalidAccount("display_name must contain more than whitespace")
    if len(name) > MAX_DISPLAY_NAME:
        raise InvalidAccount(f"display_name is longer than {MAX_DISPLAY_NAME} characters")
    if any(unicodedata.category(c)[0] == "C" for c in name):
        raise InvalidAccount("display_name contains control characters")
    return name


# Every ASCII punctuation character: each is literal when escaped, in MongoDB's PCRE and in
# the RE2 syntax FerretDB uses alike (``re.escape`` also escapes spaces, which RE2 refuses).
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def name_prefix_pattern(raw: str) -> str:
    """The regex matching display names that start with ``raw`` (normalised as names are),
    every character of it literal: a search can never be a pattern of its own (``.*``, a
    catastrophic ``(a+)+$``)."""
    prefix = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not prefix or len(prefix) > MAX_DISPLAY_NAME:
        raise InvalidAccount(f"a search is 1 to {MAX_DISPLAY_NAME} characters of a name")
    if any(unicodedata.category(c)[0] == "C" for c in prefix):
        raise InvalidAccount("a search contains control characters")
    return "^" + _PUNCTUATION.sub(r"\\\1", prefix)


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_time_zone(name: str) -> str:
    """An IANA time zone name (``Europe/Paris``), exactly as the tz database spells it."""
    if name not in _zones():
        raise InvalidAccount(f"time_zone {name!r} is not an IANA time zone")
    return name


def check_locale(tag: str) -> str:
    if not LOCALE.match(tag):
        raise InvalidAccount(f"locale {tag!r} is not a BCP 47 language tag such as en or pt-BR")
    language, *rest = tag.split("-")
    parts = [language.lower()]
    for part in rest:
        parts.append(part.title() if len(part) == 4 else part.upper())
    return "-".join(parts)


def new_account(
    *,
    account_id: str,
    email: str,
    display_name: str,
    time_zone: str,
    locale: str,
    now: datetime,
) -> Account:
    return Account(
        id=account_id,
        email=normalise_email(email),
        display_name=clean_display_name(display_name),
        time_zone=check_time_zone(time_zone),
        locale=check_locale(locale),
        created_at=now,
    )


def updated(
    account: Account,
    *,
    display_name: str | None = None,
    time_zone: str | None = None,
    locale: str | None = None,
    avatar_url: str | None = None,
    visibility: str | None = None,
) -> Account:
    """``account`` with the fields given changed (``None`` = unchanged)."""
    changes: dict[str, object] = {}
    if display_name is not None:
        changes["display_name"] = clean_display_name(display_name)
    if time_zone is not None:
        changes["time_zone"] = check_time_zone(time_zone)
    if locale is not None:
        changes["locale"] = check_locale(locale)
    if avatar_url is not None:
        if not avatar_url.startswith("https://") or len(avatar_url) > 2048:
            raise InvalidAccount("avatar_url must be an https URL of at most 2048 characters")
        changes["avatar_url"] = avatar_url
    if visibility is not None:
        if visibility not in VISIBILITIES:
            raise InvalidAccount(f"visibility is one of {', '.join(VISIBILITIES)}")
        changes["visibility"] = visibility
    return replace(account, **changes)  # type: ignore[arg-type]


ROLES = frozenset({"admin"})


def with_roles(account: Account, roles: set[str]) -> Account:
    unknown = roles - ROLES
    if unknown:
        raise InvalidAccount(f"unknown role(s): {sorted(unknown)}")
    return replace(account, roles=tuple(sorted(roles)))


def verified(account: Account) -> Account:
    return replace(account, email_verified=True)


def erased(account: Account) -> Account:
    """What remains of a deleted account: its id, so references resolve to "deleted"."""
    return replace(
        account,
        email="",
        display_name="Deleted user",
        avatar_url=None,
        email_verified=False,
        roles=(),
        deleted=True,
    )
