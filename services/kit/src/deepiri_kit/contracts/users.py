"""``events.users``: what user-service publishes about accounts. Envelope ``user_id`` = the
account (also ``user_id`` in the data). A name field left out is unchanged; ``null`` clears it.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from deepiri_kit.contracts.base import Event, Stream

__all__ = ["STREAM", "USER_REGISTERED", "USER_UPDATED", "UserRegistered", "UserUpdated"]

USER_REGISTERED = "user.registered"
USER_UPDATED = "user.updated"

Name = Annotated[str, msgspec.Meta(max_length=100)]


class _Profile(msgspec.Struct, frozen=True, kw_only=True):
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    display_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    username: Name | msgspec.UnsetType | None = msgspec.UNSET


class UserRegistered(_Profile, Event, frozen=True, kw_only=True):
    TYPE = USER_REGISTERED


class UserUpdated(_Profile, Event, frozen=True, kw_only=True):
    TYPE = USER_UPDATED


STREAM = Stream("events.users", UserRegistered, UserUpdated)
