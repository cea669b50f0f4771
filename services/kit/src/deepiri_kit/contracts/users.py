"""``events.users``: what user-service publishes about accounts. Envelope ``user_id`` = the
account (also ``user_id`` in the data). A profile field left out is unchanged; ``null`` clears
a name.

* ``user.registered`` / ``user.updated`` — the profile as it now is; ``email`` is the
  account's address once verified (``null`` while it is not), for the services that mail
  the user (notification-service).
* ``user.deleted`` — every consumer erases or anonymises what it holds of the user.
* ``user.logged_in`` — a sign-in (which client, if any).
* ``user.verification_requested`` / ``user.password_reset_requested`` — mail for
  notification-service to send: the address, the link (its secret exists nowhere else in
  clear) and when it expires.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from deepiri_kit.contracts.base import Event, Stream, UtcTime

__all__ = [
    "PASSWORD_RESET_REQUESTED",
    "STREAM",
    "USER_DELETED",
    "USER_LOGGED_IN",
    "USER_REGISTERED",
    "USER_UPDATED",
    "VERIFICATION_REQUESTED",
    "PasswordResetRequested",
    "UserDeleted",
    "UserLoggedIn",
    "UserRegistered",
    "UserUpdated",
    "VerificationRequested",
]

USER_REGISTERED = "user.registered"
USER_UPDATED = "user.updated"
USER_DELETED = "user.deleted"
USER_LOGGED_IN = "user.logged_in"
VERIFICATION_REQUESTED = "user.verification_requested"
PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # noqa: S105 - an event's name

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Name = Annotated[str, msgspec.Meta(max_length=100)]
Zone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Locale = Annotated[str, msgspec.Meta(min_length=2, max_length=35)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]


class _Profile(msgspec.Struct, frozen=True, kw_only=True):
    user_id: Id | None = None
    display_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    username: Name | msgspec.UnsetType | None = msgspec.UNSET
    time_zone: Zone | msgspec.UnsetType = msgspec.UNSET  # IANA, e.g. Europe/Paris
    locale: Locale | msgspec.UnsetType = msgspec.UNSET  # BCP 47, e.g. pt-BR
    # The verified address; None while the account's address is not verified.
    email: Email | msgspec.UnsetType | None = msgspec.UNSET


class UserRegistered(_Profile, Event, frozen=True, kw_only=True):
    TYPE = USER_REGISTERED


class UserUpdated(_Profile, Event, frozen=True, kw_only=True):
    TYPE = USER_UPDATED


class UserDeleted(Event, frozen=True, kw_only=True):
    TYPE = USER_DELETED
    user_id: Id


class UserLoggedIn(Event, frozen=True, kw_only=True):
    TYPE = USER_LOGGED_IN
    user_id: Id
    client_id: Id | None = None


class _Mail(Event, frozen=True, kw_only=True):
    user_id: Id
    email: Email
    locale: Locale
    link: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    expires_at: UtcTime


class VerificationRequested(_Mail, frozen=True, kw_only=True):
    TYPE = VERIFICATION_REQUESTED


class PasswordResetRequested(_Mail, frozen=True, kw_only=True):
    TYPE = PASSWORD_RESET_REQUESTED


STREAM = Stream(
    "events.users",
    UserRegistered,
    UserUpdated,
    UserDeleted,
    UserLoggedIn,
    VerificationRequested,
    PasswordResetRequested,
)
