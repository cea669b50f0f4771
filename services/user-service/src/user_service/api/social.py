"""``/api/users/friends``, ``/teammates``, ``/rivals``, ``/follows`` and ``/blocks``: friend
requests (send, accept, decline, cancel), friends and unfriending, team invitations (the same
rules) and teammates, rivals and follows (declared one way), mutual friends,
friends-of-friends suggestions, blocks. Every list shows only whom the caller may see.

Writes may carry an ``Idempotency-Key`` (the kit replays the answer); without one, repeating
a request, an accept or a block is harmless anyway. A request to someone who blocked the
caller answers exactly as any new request does (``outgoing``): the blocked are never told.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter

from deepiri_kit import Forbidden, Out, requires_scopes
from user_service.api.accounts import READ, WRITE, Caller, person
from user_service.domain import social as rules
from user_service.domain.social import Bond, Relation
from user_service.schemas import (
    BlocksOut,
    FollowsOut,
    FriendshipOut,
    FriendshipsOut,
    FriendsOut,
    InvitationsOut,
    MutualOut,
    RelationOut,
    RequestsOut,
    RivalsOut,
    SuggestionOut,
    SuggestionsOut,
    TeammatesOut,
)
from user_service.service.social import Requests, SocialGraph

Social = NamedDependency[SocialGraph]
UserId = FromPath[str]
Limit = Annotated[int, Parameter(ge=1, le=100)]


Change = Callable[[SocialGraph, str, str], Awaitable[Relation]]
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[object]])


@dataclass(frozen=True)
class BondRoutes:
    """How a bond both must want (``domain.social.Bond``: one rule set for friends and
    teammates) is served: its path, the names of its lists and changes (each handler's
    summary and operation id) and the use cases behind them."""

    bond: Bond
    path: str  # "/friends"
    pending: str  # the pending list's name and path ("requests")
    ask: str  # the handlers' names: asking ("send") and ending ("unfriend")
    end: str
    listed: type[Out]  # the members list's answer: one field, named as the bond
    pending_out: type[Out]  # incoming, outgoing
    members_of: Callable[[SocialGraph, str], Awaitable[list[str]]]
    pending_of: Callable[[SocialGraph, str], Awaitable[Requests]]
    asks: Change
    cancels: Change
    accepts: Change
    declines: Change
    ends: Change


def _named(name: str, doc: str, returns: type | None = None) -> Callable[[Handler], Handler]:
    """Names a handler made for a bond (its summary and operation id), documents it and
    declares its answer's model (the bond's own)."""

    def name_it(handler: Handler) -> Handler:
        handler.__doc__ = doc
        handler.__name__ = handler.__qualname__ = name
        if returns is not None:
            handler.__annotations__["return"] = returns
        return handler

    return name_it


def bond_controller(routes: BondRoutes) -> type[Controller]:
    """The controller of a bond: its members, pending list, ask, cancel, accept, decline and
    end — the same routes, rules and answers for every bond, in its own words."""
    joined, asking, pending = routes.bond.joined, routes.bond.request, routes.pending

    class BondController(Controller):
        path = routes.path
        tags = ["social"]

        @get("/", guards=READ)
        @_named(
            joined,
            f"The caller's {joined} (ids; not those whose visibility is ``private``).",
            routes.listed,
        )
        async def members(self, request: Caller, social: Social) -> Out:
            return routes.listed(**{joined: await routes.members_of(social, person(request))})

        @get(f"/{pending}", guards=READ)
        @_named(pending, f"Pending {asking}s to and from the caller.", routes.pending_out)
        async def pending_list(self, request: Caller, social: Social) -> Out:
            found = await routes.pending_of(social, person(request))
            return routes.pending_out(incoming=found.incoming, outgoing=found.outgoing)

        @post(f"/{pending}/{{user_id:str}}", guards=WRITE, status_code=200)
        @_named(
            routes.ask,
            f"Ask ``user_id`` to be {joined}: ``outgoing`` (pending; asking again changes "
            f"nothing) or ``{joined}`` when they had asked the caller. 409 when the caller "
            "blocked them.",
        )
        async def ask(self, user_id: UserId, request: Caller, social: Social) -> RelationOut:
            relation = await routes.asks(social, person(request), user_id)
            return RelationOut(user_id=user_id, relation=relation)

        @delete(f"/{pending}/{{user_id:str}}", guards=WRITE, status_code=204)
        @_named("cancel", f"Withdraw the caller's {asking} (404 if none; 409 if it was accepted).")
        async def cancel(self, user_id: UserId, request: Caller, social: Social) -> None:
            await routes.cancels(social, person(request), user_id)

        @post(f"/{pending}/{{user_id:str}}/accept", guards=WRITE, status_code=200)
        @_named("accept", f"Accept ``user_id``'s {asking} (404 if none; again: nothing new).")
        async def accept(self, user_id: UserId, request: Caller, social: Social) -> RelationOut:
            relation = await routes.accepts(social, person(request), user_id)
            return RelationOut(user_id=user_id, relation=relation)

        @post(f"/{pending}/{{user_id:str}}/decline", guards=WRITE, status_code=204)
        @_named(
            "decline", f"Decline ``user_id``'s {asking} (404 if none; 409 if an accept came first)."
        )
        async def decline(self, user_id: UserId, request: Caller, social: Social) -> None:
            await routes.declines(social, person(request), user_id)

        @delete("/{user_id:str}", guards=WRITE, status_code=204)
        @_named(routes.end, f"Stop being {joined} (404 if not {joined}).")
        async def end(self, user_id: UserId, request: Caller, social: Social) -> None:
            await routes.ends(social, person(request), user_id)

    return BondController


FRIENDS = BondRoutes(
    bond=rules.FRIENDS,
    path="/friends",
    pending="requests",
    ask="send",
    end="unfriend",
    listed=FriendsOut,
    pending_out=RequestsOut,
    members_of=SocialGraph.friends,
    pending_of=SocialGraph.requests,
    asks=SocialGraph.send,
    cancels=SocialGraph.cancel,
    accepts=SocialGraph.accept,
    declines=SocialGraph.decline,
    ends=SocialGraph.unfriend,
)
TEAMMATES = BondRoutes(
    bond=rules.TEAM,
    path="/teammates",
    pending="invitations",
    ask="invite",
    end="leave",
    listed=TeammatesOut,
    pending_out=InvitationsOut,
    members_of=SocialGraph.teammates,
    pending_of=SocialGraph.invitations,
    asks=SocialGraph.invite,
    cancels=SocialGraph.cancel_invite,
    accepts=SocialGraph.accept_invite,
    declines=SocialGraph.decline_invite,
    ends=SocialGraph.leave,
)


# Friends: one asks, the other accepts; crossing requests join at once.
FriendController = bond_controller(FRIENDS)
# Teammates: the friend request's rules for a bond of its own (independent of friendship).
TeamController = bond_controller(TEAMMATES)


class FriendCircleController(Controller):
    """Around the caller's friends: the ones shared with someone, and people to ask."""

    path = "/friends"
    tags = ["social"]

    @get("/{user_id:str}/mutual", guards=READ)
    async def mutual(self, user_id: UserId, request: Caller, social: Social) -> MutualOut:
        """Friends the caller shares with ``user_id``."""
        return MutualOut(user_id=user_id, mutual=await social.mutual(person(request), user_id))

    @get("/suggestions", guards=READ)
    async def suggestions(
        self, request: Caller, social: Social, limit: Limit = 20
    ) -> SuggestionsOut:
        """Friends of the caller's friends, most mutual friends first; never a friend, a
        pending request or anyone blocked, either way."""
        ranked = await social.suggestions(person(request), limit)
        return SuggestionsOut(suggestions=[SuggestionOut(user_id=u, mutual=n) for u, n in ranked])


class RivalController(Controller):
    """Rivals: declared one way, no consent (like a follow); declared both ways, mutual."""

    path = "/rivals"
    tags = ["social"]

    @get("/", guards=READ)
    async def rivals(self, request: Caller, social: Social) -> RivalsOut:
        """Whom the caller declared a rival, and who declared the caller theirs."""
        declared, named_by = await social.rivals(person(request))
        return RivalsOut(rivals=declared, rivaled_by=named_by)

    @put("/{user_id:str}", guards=WRITE, status_code=204)
    async def rival(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Declare ``user_id`` a rival (again: nothing). 409 if the caller blocked them."""
        await social.rival(person(request), user_id)

    @delete("/{user_id:str}", guards=WRITE, status_code=204)
    async def unrival(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Withdraw the declaration (none: nothing)."""
        await social.unrival(person(request), user_id)


class BlockController(Controller):
    path = "/blocks"
    tags = ["social"]

    @get("/", guards=READ)
    async def blocked(self, request: Caller, social: Social) -> BlocksOut:
        """Whom the caller blocked."""
        return BlocksOut(blocked=await social.blocked(person(request)))

    @put("/{user_id:str}", guards=WRITE, status_code=204)
    async def block(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Block ``user_id``: ends every tie between the two either way (friendship, team,
        requests, invitations, follows, rivalries), hides each from the other everywhere
        (profile, search, lists, mutual friends, suggestions) and refuses new ties from
        either. They are not told. Blocking again changes nothing."""
        await social.block(person(request), user_id)

    @delete("/{user_id:str}", guards=WRITE, status_code=204)
    async def unblock(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Lift the caller's block (their block, if any, stands)."""
        await social.unblock(person(request), user_id)


class FollowController(Controller):
    path = "/follows"
    tags = ["social"]

    @get("/", guards=READ)
    async def follows(self, request: Caller, social: Social) -> FollowsOut:
        """Whom the caller follows, and who follows the caller."""
        following, followers = await social.follows(person(request))
        return FollowsOut(following=following, followers=followers)

    @put("/{user_id:str}", guards=WRITE, status_code=204)
    async def follow(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Follow ``user_id`` (one-way, no consent; again: nothing). 409 if the caller
        blocked them."""
        await social.follow(person(request), user_id)

    @delete("/{user_id:str}", guards=WRITE, status_code=204)
    async def unfollow(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Stop following ``user_id`` (not following: nothing)."""
        await social.unfollow(person(request), user_id)


class ServiceFriendController(Controller):
    """For other services (gamification-service rebuilds its friends' boards from it)."""

    path = "/friends/of"
    tags = ["social"]

    @get("/{user_id:str}", guards=[requires_scopes("social:read")])
    async def friends_of(self, user_id: UserId, request: Caller, social: Social) -> FriendshipsOut:
        """``user_id``'s friends, each with the number of their pair's newest change. A
        service's own token only (client credentials with ``social:read``)."""
        if not request.user.is_service:
            raise Forbidden("this route answers services only")
        found = await social.friendships(user_id)
        friends = [FriendshipOut(user_id=u, version=v) for u, v in sorted(found.items())]
        return FriendshipsOut(user_id=user_id, friends=friends)
