"""What user-service publishes, on ``events.users``: account changes (through the account
log's outbox: a change and its events are one insert) and mail to send (published at once:
the request is repeated by the person if the bus was down)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from deepiri_kit.events import Envelope, new_event

STREAM = "events.users"
SOURCE = "user-service"
USER_REGISTERED = "user.registered"
USER_UPDATED = "user.updated"
USER_DELETED = "user.deleted"
USER_LOGGED_IN = "user.logged_in"
VERIFICATION_REQUESTED = "user.verification_requested"
PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # noqa: S105 - a name


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    """``user.registered`` / ``user.updated``: the public profile as it now is."""

    user_id: str
    display_name: str
    time_zone: str
    locale: str


class Deleted(msgspec.Struct, frozen=True, kw_only=True):
    """``user.deleted``: every service erases or anonymises what it holds of the user."""

    user_id: str


class LoggedIn(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    client_id: str | None = None


class MailRequested(msgspec.Struct, frozen=True, kw_only=True):
    """Mail for notification-service to send: the address, the link and when it expires.
    The link's secret exists nowhere else in clear (the database keeps its digest)."""

    user_id: str
    email: str
    locale: str
    link: str
    expires_at: datetime


def event(
    event_type: str, user_id: str, data: msgspec.Struct, *, event_id: str | None = None
) -> Envelope:
    return new_event(
        event_type,
        source=SOURCE,
        user_id=user_id,
        data=msgspec.to_builtins(data),
        event_id=event_id,
    )
