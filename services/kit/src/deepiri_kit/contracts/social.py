"""``events.social``: what user-service publishes about the social graph. Envelope ``user_id``
= the person who acted (also ``user_id`` in the data). Each event is decided in the same
insert as the change of the pair it announces (the social log's outbox), so none is lost;
its envelope id derives from that change, so a relay or replay repeats the id.

* ``social.friend_requested`` — ``user_id`` asked ``friend_id`` to be friends (a request to
  someone who blocked the sender is a shadow request and announces nothing).
* ``social.friend_added`` — ``user_id`` and ``friend_id`` are friends now (``user_id``
  accepted, or sent a request crossing one from ``friend_id``). Friendship is symmetric: a
  consumer adds both directions.
* ``social.friend_removed`` — they are friends no more (``reason``: ``unfriended``, or
  ``blocked`` when a block ended it; a block also sends ``social.blocked``).
* ``social.blocked`` — ``user_id`` blocked ``blocked_id``: the two are hidden from each other
  everywhere (e.g. friends' boards). Internal: the blocked person is never told.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from deepiri_kit.contracts.base import Event, Stream

__all__ = [
    "BLOCKED",
    "FRIEND_ADDED",
    "FRIEND_REMOVED",
    "FRIEND_REQUESTED",
    "STREAM",
    "Blocked",
    "FriendAdded",
    "FriendRemoved",
    "FriendRequested",
]

FRIEND_REQUESTED = "social.friend_requested"
FRIEND_ADDED = "social.friend_added"
FRIEND_REMOVED = "social.friend_removed"
BLOCKED = "social.blocked"

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class FriendRequested(Event, frozen=True, kw_only=True):
    TYPE = FRIEND_REQUESTED

    user_id: Id
    friend_id: Id


class FriendAdded(Event, frozen=True, kw_only=True):
    TYPE = FRIEND_ADDED

    user_id: Id
    friend_id: Id


class FriendRemoved(Event, frozen=True, kw_only=True):
    TYPE = FRIEND_REMOVED

    user_id: Id
    friend_id: Id
    reason: Literal["unfriended", "blocked"]


class Blocked(Event, frozen=True, kw_only=True):
    TYPE = BLOCKED

    user_id: Id
    blocked_id: Id


STREAM = Stream("events.social", FriendRequested, FriendAdded, FriendRemoved, Blocked)
