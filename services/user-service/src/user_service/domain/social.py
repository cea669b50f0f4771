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

Teammates are a second consented bond with the same rules as friendship (:func:`invite`,
:func:`accept_invite`, :func:`decline_invite`, :func:`cancel_invite`, :func:`leave`): an
invitation the other accepts, crossing invitations joining at once; independent of
friendship. Following (:func:`follow`) and rivalry (:func:`rival`) are one-way declarations
that need no consent (a rivalry both declared is mutual); a block ends both, both ways, and
one declared towards a blocker is a shadow too (the blocker never sees it).

Who may see whom (:func:`may_see`): a person's visibility (public, friends, private) and
blocks either way. Friends-of-friends suggestions are ranked by :func:`rank_suggestions`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from deepiri_kit.contracts import Event
from deepiri_kit.contracts.social import Blocked, FriendAdded, FriendRemoved, FriendRequested
from deepiri_kit.errors import Conflict, Invalid, NotFound
from user_service.domain.accounts import VISIBILITIES, Visibility

__all__ = [
    "FRIENDS",
    "MAX_ID",
    "TEAM",
    "VISIBILITIES",
    "Bond",
    "Change",
    "Pair",
    "Relation",
    "Visibility",
    "accept",
    "accept_invite",
    "block",
    "cancel",
    "cancel_invite",
    "check_id",
    "decline",
    "decline_invite",
    "follow",
    "follows",
    "invite",
    "leave",
    "may_see",
    "pair_key",
    "rank_suggestions",
    "relation",
    "rival",
    "rivals",
    "send",
    "team_relation",
    "unblock",
    "unfollow",
    "unfriend",
    "unrival",
]

MAX_ID = 200
UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID)]
# What one person sees of a pair's friendship or team bond (never that the other blocked them).
Relation = Literal["none", "outgoing", "incoming", "friends", "teammates", "blocked"]


class Pair(msgspec.Struct, frozen=True, kw_only=True):
    """Two people (ids in order) and everything between them."""

    users: tuple[UserId, UserId]
    friends: bool = False
    requested_by: UserId | None = None  # a pending friend request's sender
    teammates: bool = False
    invited_by: UserId | None = None  # a pending team invitation's sender
    blocked_by: tuple[UserId, ...] = ()
    following: tuple[UserId, ...] = ()  # who follows the other (one-way, no consent)
    rivals: tuple[UserId, ...] = ()  # who declared the other their rival (one-way)

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


@dataclass(frozen=True)
class Bond:
    """A tie both must want: one asks, the other accepts (friends, teammates). ``joined`` and
    ``pending`` name the pair's fields; ``added``/``removed`` make its events, if any."""

    joined: Literal["friends", "teammates"]
    pending: Literal["requested_by", "invited_by"]
    request: str  # what asking is called, for refusals
    leave: str  # how to end it, for refusals
    requested: Callable[[str, str], Event] | None = None  # announces a request (not a shadow)
    added: Callable[[str, str], Event] | None = None
    removed: Callable[[str, str, Literal["unfriended", "blocked"]], Event] | None = None

    def of(self, pair: Pair) -> tuple[bool, str | None]:
        joined: bool = getattr(pair, self.joined)
        pending: str | None = getattr(pair, self.pending)
        return joined, pending

    def set(self, pair: Pair, *, joined: bool, pending: str | None) -> Pair:
        return msgspec.structs.replace(pair, **{self.joined: joined, self.pending: pending})


FRIENDS = Bond(
    "friends",
    "requested_by",
    "friend request",
    "unfriend",
    requested=lambda user, other: FriendRequested(user_id=user, friend_id=other),
    added=lambda user, other: FriendAdded(user_id=user, friend_id=other),
    removed=lambda user, other, why: FriendRemoved(user_id=user, friend_id=other, reason=why),
)
TEAM = Bond("teammates", "invited_by", "team invitation", "leave the team")


def check_id(user_id: str) -> str:
    if not 0 < len(user_id) <= MAX_ID or not user_id.isprintable():
        raise Invalid("a user id is 1 to 200 printable characters", user_id=user_id[:MAX_ID])
    return user_id


def pair_key(one: str, other: str) -> str:
    """The pair's one key whoever asks (length-prefixed: no two pairs share it)."""
    a, b = sorted((one, other))
    return f"{len(a)}:{a}|{b}"


def _bond_relation(bond: Bond, pair: Pair, actor: str) -> Relation:
    joined, pending = bond.of(pair)
    if actor in pair.blocked_by:
        return "blocked"
    if joined:
        return bond.joined
    if pending == actor:
        return "outgoing"
    if pending is not None and not pair.blocked:
        return "incoming"
    return "none"  # includes a shadow request to a blocker, which only its sender sees


def relation(pair: Pair, actor: str) -> Relation:
    """The friendship as ``actor`` sees it."""
    return _bond_relation(FRIENDS, pair, actor)


def team_relation(pair: Pair, actor: str) -> Relation:
    """The team bond as ``actor`` sees it."""
    return _bond_relation(TEAM, pair, actor)


def _same(pair: Pair, actor: str, bond: Bond = FRIENDS) -> Change:
    return Change(pair=pair, relation=_bond_relation(bond, pair, actor))


def _changed(pair: Pair, actor: str, *events: Event, bond: Bond = FRIENDS) -> Change:
    return Change(pair=pair, events=events, relation=_bond_relation(bond, pair, actor))


def _refuse_blocker(pair: Pair, actor: str) -> None:
    if actor in pair.blocked_by:
        raise Conflict("you have blocked this user; unblock them first", user_id=pair.other(actor))


def _added(bond: Bond, actor: str, other: str) -> tuple[Event, ...]:
    return () if bond.added is None else (bond.added(actor, other),)


def _ask(bond: Bond, pair: Pair, actor: str) -> Change:
    _refuse_blocker(pair, actor)
    other = pair.other(actor)
    joined, pending = bond.of(pair)
    if joined or pending == actor:
        return _same(pair, actor, bond)
    if pending == other:  # crossing requests: the second accepts the first
        after = bond.set(pair, joined=True, pending=None)
        return _changed(after, actor, *_added(bond, actor, other), bond=bond)
    # A shadow request (the other blocked ``actor``) must not reach the blocker.
    told = () if bond.requested is None or pair.blocked else (bond.requested(actor, other),)
    return _changed(bond.set(pair, joined=False, pending=actor), actor, *told, bond=bond)


def _accept(bond: Bond, pair: Pair, actor: str) -> Change:
    if bond.of(pair)[0]:
        return _same(pair, actor, bond)
    if _bond_relation(bond, pair, actor) != "incoming":
        raise NotFound(f"no {bond.request} from this user")
    after = bond.set(pair, joined=True, pending=None)
    return _changed(after, actor, *_added(bond, actor, pair.other(actor)), bond=bond)


def _decline(bond: Bond, pair: Pair, actor: str) -> Change:
    """409 once an accept won the race."""
    if bond.of(pair)[0]:
        raise Conflict(f"you are {bond.joined} already; {bond.leave} instead")
    if _bond_relation(bond, pair, actor) != "incoming":
        raise NotFound(f"no {bond.request} from this user")
    return _changed(bond.set(pair, joined=False, pending=None), actor, bond=bond)


def _cancel(bond: Bond, pair: Pair, actor: str) -> Change:
    """Withdraw the actor's own request (shadow requests too)."""
    joined, pending = bond.of(pair)
    if joined:
        raise Conflict(f"you are {bond.joined} already; {bond.leave} instead")
    if pending != actor:
        raise NotFound(f"no {bond.request} to this user")
    return _changed(bond.set(pair, joined=False, pending=None), actor, bond=bond)


def _end(bond: Bond, pair: Pair, actor: str) -> Change:
    if not bond.of(pair)[0]:
        raise NotFound(f"not {bond.joined} with this user")
    other = pair.other(actor)
    events = () if bond.removed is None else (bond.removed(actor, other, "unfriended"),)
    return _changed(bond.set(pair, joined=False, pending=None), actor, *events, bond=bond)


def send(pair: Pair, actor: str) -> Change:
    """A friend request from ``actor``. Repeating it changes nothing; crossing one from the
    other makes them friends; to a blocker it is a shadow request (answers ``outgoing``)."""
    return _ask(FRIENDS, pair, actor)


def accept(pair: Pair, actor: str) -> Change:
    """Accept the other's request (accepting again changes nothing)."""
    return _accept(FRIENDS, pair, actor)


def decline(pair: Pair, actor: str) -> Change:
    """Decline the other's request (409 once an accept won the race)."""
    return _decline(FRIENDS, pair, actor)


def cancel(pair: Pair, actor: str) -> Change:
    """Withdraw the actor's own request (shadow requests too)."""
    return _cancel(FRIENDS, pair, actor)


def unfriend(pair: Pair, actor: str) -> Change:
    return _end(FRIENDS, pair, actor)


def invite(pair: Pair, actor: str) -> Change:
    """Invite the other to be teammates: the friend request's rules, for the team bond."""
    return _ask(TEAM, pair, actor)


def accept_invite(pair: Pair, actor: str) -> Change:
    return _accept(TEAM, pair, actor)


def decline_invite(pair: Pair, actor: str) -> Change:
    return _decline(TEAM, pair, actor)


def cancel_invite(pair: Pair, actor: str) -> Change:
    return _cancel(TEAM, pair, actor)


def leave(pair: Pair, actor: str) -> Change:
    """Stop being teammates."""
    return _end(TEAM, pair, actor)


def block(pair: Pair, actor: str) -> Change:
    """Block the other: ends every tie between them, either way — friendship, team, requests
    and invitations, follows, rivalries (again: nothing)."""
    if actor in pair.blocked_by:
        return _same(pair, actor)
    other = pair.other(actor)
    events: list[Event] = []
    if pair.friends:
        events.append(FriendRemoved(user_id=actor, friend_id=other, reason="blocked"))
    events.append(Blocked(user_id=actor, blocked_id=other))
    after = Pair(users=pair.users, blocked_by=tuple(sorted({*pair.blocked_by, actor})))
    return _changed(after, actor, *events)


def unblock(pair: Pair, actor: str) -> Change:
    """Lift the actor's block (whatever the other declared or asked meanwhile, all shadows,
    is discarded, not delivered). The other's block, if any, stands."""
    if actor not in pair.blocked_by:
        return _same(pair, actor)
    after = Pair(users=pair.users, blocked_by=tuple(u for u in pair.blocked_by if u != actor))
    return _changed(after, actor)


def _declared(pair: Pair, field: Literal["following", "rivals"], who: str) -> bool:
    """Whether ``who`` declared it towards the other, as the *other* may see it (a shadow
    towards a blocker is not seen)."""
    declared: tuple[str, ...] = getattr(pair, field)
    return who in declared and not pair.blocked


def _declare(pair: Pair, field: Literal["following", "rivals"], actor: str) -> Change:
    _refuse_blocker(pair, actor)
    declared: tuple[str, ...] = getattr(pair, field)
    if actor in declared:
        return Change(pair=pair)  # a declaration is no bond: its relation is "none"
    return Change(pair=msgspec.structs.replace(pair, **{field: tuple(sorted({*declared, actor}))}))


def _withdraw(pair: Pair, field: Literal["following", "rivals"], actor: str) -> Change:
    declared: tuple[str, ...] = getattr(pair, field)
    if actor not in declared:
        return Change(pair=pair)
    return Change(
        pair=msgspec.structs.replace(pair, **{field: tuple(u for u in declared if u != actor)})
    )


def follows(pair: Pair, follower: str) -> bool:
    """Whether ``follower`` follows the other, as the *followed* may see it (not a shadow)."""
    return _declared(pair, "following", follower)


def follow(pair: Pair, actor: str) -> Change:
    """Follow the other (again: nothing). To a blocker it is a shadow follow."""
    return _declare(pair, "following", actor)


def unfollow(pair: Pair, actor: str) -> Change:
    """Stop following (not following: nothing)."""
    return _withdraw(pair, "following", actor)


def rivals(pair: Pair, declarer: str) -> bool:
    """Whether ``declarer`` named the other their rival, as the other may see it."""
    return _declared(pair, "rivals", declarer)


def rival(pair: Pair, actor: str) -> Change:
    """Declare the other a rival: one-way, no consent (both declaring makes it mutual); again:
    nothing. To a blocker it is a shadow."""
    return _declare(pair, "rivals", actor)


def unrival(pair: Pair, actor: str) -> Change:
    """Withdraw the declaration (none: nothing)."""
    return _withdraw(pair, "rivals", actor)


def may_see(
    viewer: str, subject: str, visibility: Visibility, *, friends: bool, blocked: bool
) -> bool:
    """Whether ``viewer`` may see ``subject`` anywhere (profile, search, suggestions, lists):
    themselves always; never across a block either way; else as ``subject``'s visibility
    says — everyone, their friends only, or no one."""
    if viewer == subject:
        return True
    if blocked:
        return False
    return visibility == "public" or (visibility == "friends" and friends)


def rank_suggestions(
    user: str,
    friends: Iterable[str],
    friends_of: Mapping[str, Iterable[str]],
    excluded: Collection[str] = (),
    *,
    limit: int | None = 20,
) -> list[tuple[str, int]]:
    """Friends of ``user``'s friends, with how many friends each shares with ``user``, most
    shared first (ties by id, so the order is stable). ``friends_of`` maps each friend to
    their friends; never suggested: ``user``, their friends, and ``excluded`` (pending
    requests either way, blocks either way, people ``user`` may not see); ``limit`` None: all."""
    mine = set(friends)
    skip = {user, *mine, *excluded}
    mutual: dict[str, int] = {}
    for friend in mine:
        for candidate in set(friends_of.get(friend, ())):
            if candidate not in skip:
                mutual[candidate] = mutual.get(candidate, 0) + 1
    ranked = sorted(mutual.items(), key=lambda item: (-item[1], item[0]))
    return ranked if limit is None else ranked[: max(limit, 0)]
