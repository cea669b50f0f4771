"""The social graph's rules. Pure: no I/O.

Everything two people are to each other is one :class:`Pair` (friends, a pending friend
request and who sent it, who blocked whom), changed as a whole by one rule at a time. Each
rule takes the pair as it is and the person acting, and returns a :class:`Change`: the new
pair (the same one when nothing changes: repeating a request or an accept is harmless) and
the events it decides. So two people sending each other a request at once cannot both
"win": whoever is second finds the other's request and accepts it.

Blocking is total and symmetric in effect: a block ends the friendship and any request, and
while either has blocked the other, neither's request reaches the other. The blocked person
is never told: their request answers ``pending`` like any other and stays pending, visible
only to them (a *shadow* request, which the blocker never sees and an unblock discards).
The blocker knows, so their own request is refused (409: unblock first).

Following is one-way and needs no consent (:func:`follow`); a block ends it both ways, and a
follow of a blocker is a shadow too (the blocker's followers never show it).

Friends-of-friends suggestions are ranked by :func:`rank_suggestions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Literal

import msgspec

from deepiri_kit.contracts import Event
from deepiri_kit.contracts.social import Blocked, FriendAdded, FriendRemoved, FriendRequested
from deepiri_kit.errors import Conflict, Invalid, NotFound

__all__ = [
    "MAX_ID",
    "Change",
    "Pair",
    "Relation",
    "accept",
    "block",
    "cancel",
    "check_id",
    "decline",
    "follow",
    "follows",
    "pair_key",
    "rank_suggestions",
    "relation",
    "send",
    "unblock",
    "unfollow",
    "unfriend",
]

MAX_ID = 200
UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID)]
# What one person sees of a pair (never that the other blocked them).
Relation = Literal["none", "outgoing", "incoming", "friends", "blocked"]


class Pair(msgspec.Struct, frozen=True, kw_only=True):
    """Two people (ids in order) and everything between them."""

    users: tuple[UserId, UserId]
    friends: bool = False
    requested_by: UserId | None = None  # a pending friend request's sender
    blocked_by: tuple[UserId, ...] = ()
    following: tuple[UserId, ...] = ()  # who follows the other (one-way, no consent)

    @classmethod
    def of(cls, one: str, other: str) -> Pair:
        a, b = sorted((one, other))
        return cls(users=(a, b))

    def other(self, user: str) -> str:
        a, b = self.users
        return b if user == a else a

    @property
    def blocked(self) -> bool:
        return bool(self.blocked_by)


class Change(msgspec.Struct, frozen=True, kw_only=True):
    pair: Pair
    events: tuple[Event, ...] = ()
    relation: Relation = "none"  # what the actor sees afterwards


def check_id(user_id: str) -> str:
    if not 0 < len(user_id) <= MAX_ID or not user_id.isprintable():
        raise Invalid("a user id is 1 to 200 printable characters", user_id=user_id[:MAX_ID])
    return user_id


def pair_key(one: str, other: str) -> str:
    """The pair's one key whoever asks (length-prefixed: no two pairs share it)."""
    a, b = sorted((one, other))
    return f"{len(a)}:{a}|{b}"


def relation(pair: Pair, actor: str) -> Relation:
    if actor in pair.blocked_by:
        return "blocked"
    if pair.friends:
        return "friends"
    if pair.requested_by == actor:
        return "outgoing"
    if pair.requested_by is not None and not pair.blocked:
        return "incoming"
    return "none"  # includes a shadow request to a blocker, which only its sender sees


def _same(pair: Pair, actor: str) -> Change:
    return Change(pair=pair, relation=relation(pair, actor))


def _changed(pair: Pair, actor: str, *events: Event) -> Change:
    return Change(pair=pair, events=events, relation=relation(pair, actor))


def _refuse_blocker(pair: Pair, actor: str) -> None:
    if actor in pair.blocked_by:
        raise Conflict("you have blocked this user; unblock them first", user_id=pair.other(actor))


def send(pair: Pair, actor: str) -> Change:
    """A friend request from ``actor``. Repeating it changes nothing; crossing one from the
    other makes them friends; to a blocker it is a shadow request (answers ``outgoing``)."""
    _refuse_blocker(pair, actor)
    other = pair.other(actor)
    if pair.friends or pair.requested_by == actor:
        return _same(pair, actor)
    if pair.requested_by == other:  # crossing requests: the second accepts the first
        return _changed(
            msgspec.structs.replace(pair, friends=True, requested_by=None),
            actor,
            FriendAdded(user_id=actor, friend_id=other),
        )
    # A shadow request (the other blocked ``actor``) must not reach the blocker.
    told = () if pair.blocked else (FriendRequested(user_id=actor, friend_id=other),)
    return _changed(msgspec.structs.replace(pair, requested_by=actor), actor, *told)


def accept(pair: Pair, actor: str) -> Change:
    """Accept the other's request (accepting again changes nothing)."""
    if pair.friends:
        return _same(pair, actor)
    if relation(pair, actor) != "incoming":
        raise NotFound("no friend request from this user")
    return _changed(
        msgspec.structs.replace(pair, friends=True, requested_by=None),
        actor,
        FriendAdded(user_id=actor, friend_id=pair.other(actor)),
    )


def decline(pair: Pair, actor: str) -> Change:
    """Decline the other's request (409 once an accept won the race)."""
    if pair.friends:
        raise Conflict("you are friends already; unfriend instead")
    if relation(pair, actor) != "incoming":
        raise NotFound("no friend request from this user")
    return _changed(msgspec.structs.replace(pair, requested_by=None), actor)


def cancel(pair: Pair, actor: str) -> Change:
    """Withdraw the actor's own request (shadow requests too)."""
    if pair.friends:
        raise Conflict("you are friends already; unfriend instead")
    if pair.requested_by != actor:
        raise NotFound("no friend request to this user")
    return _changed(msgspec.structs.replace(pair, requested_by=None), actor)


def unfriend(pair: Pair, actor: str) -> Change:
    if not pair.friends:
        raise NotFound("not friends with this user")
    return _changed(
        msgspec.structs.replace(pair, friends=False),
        actor,
        FriendRemoved(user_id=actor, friend_id=pair.other(actor), reason="unfriended"),
    )


def block(pair: Pair, actor: str) -> Change:
    """Block the other: ends the friendship and any request, either way (again: nothing)."""
    if actor in pair.blocked_by:
        return _same(pair, actor)
    other = pair.other(actor)
    events: list[Event] = []
    if pair.friends:
        events.append(FriendRemoved(user_id=actor, friend_id=other, reason="blocked"))
    events.append(Blocked(user_id=actor, blocked_id=other))
    after = msgspec.structs.replace(
        pair,
        friends=False,
        requested_by=None,
        following=(),
        blocked_by=tuple(sorted({*pair.blocked_by, actor})),
    )
    return _changed(after, actor, *events)


def unblock(pair: Pair, actor: str) -> Change:
    """Lift the actor's block (a shadow request or follow made meanwhile is discarded, not
    delivered). The other's block, if any, stands."""
    if actor not in pair.blocked_by:
        return _same(pair, actor)
    after = msgspec.structs.replace(
        pair,
        requested_by=None,
        following=(),
        blocked_by=tuple(u for u in pair.blocked_by if u != actor),
    )
    return _changed(after, actor)


def follows(pair: Pair, follower: str) -> bool:
    """Whether ``follower`` follows the other, as the *followed* may see it (not a shadow)."""
    return follower in pair.following and not pair.blocked


def follow(pair: Pair, actor: str) -> Change:
    """Follow the other (again: nothing). To a blocker it is a shadow follow."""
    _refuse_blocker(pair, actor)
    if actor in pair.following:
        return _same(pair, actor)
    return _changed(
        msgspec.structs.replace(pair, following=tuple(sorted({*pair.following, actor}))), actor
    )


def unfollow(pair: Pair, actor: str) -> Change:
    """Stop following (not following: nothing)."""
    if actor not in pair.following:
        return _same(pair, actor)
    return _changed(
        msgspec.structs.replace(pair, following=tuple(u for u in pair.following if u != actor)),
        actor,
    )


def rank_suggestions(
    user: str,
    friends: Iterable[str],
    friends_of: Mapping[str, Iterable[str]],
    excluded: Iterable[str] = (),
    *,
    limit: int = 20,
) -> list[tuple[str, int]]:
    """Friends of ``user``'s friends, with how many friends each shares with ``user``, most
    shared first (ties by id, so the order is stable). ``friends_of`` maps each friend to
    their friends; never suggested: ``user``, their friends, and ``excluded`` (pending
    requests either way, blocks either way)."""
    mine = set(friends)
    skip = {user, *mine, *excluded}
    mutual: dict[str, int] = {}
    for friend in mine:
        for candidate in set(friends_of.get(friend, ())):
            if candidate not in skip:
                mutual[candidate] = mutual.get(candidate, 0) + 1
    ranked = sorted(mutual.items(), key=lambda item: (-item[1], item[0]))
    return ranked[: max(limit, 0)]
