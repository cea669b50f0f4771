"""``/api/users/friends``, ``/teammates``, ``/rivals``, ``/follows`` and ``/blocks``: friend
requests (send, accept, decline, cancel), friends and unfriending, team invitations (the same
rules) and teammates, rivals and follows (declared one way), mutual friends,
friends-of-friends suggestions, blocks. Every list shows only whom the caller may see.

Writes may carry an ``Idempotency-Key`` (the kit replays the answer); without one, repeating
a request, an accept or a block is harmless anyway. A request to someone who blocked the
caller answers exactly as any new request does (``outgoing``): the blocked are never told.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter

from deepiri_kit import Forbidden, requires_scopes
from user_service.api.accounts import READ, WRITE, Caller, person
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
from user_service.service.social import SocialGraph

Social = NamedDependency[SocialGraph]
UserId = FromPath[str]
Limit = Annotated[int, Parameter(ge=1, le=100)]


class FriendController(Controller):
    path = "/friends"
    tags = ["social"]

    @get("/", guards=READ)
    async def friends(self, request: Caller, social: Social) -> FriendsOut:
        """The caller's friends (ids; not those whose visibility is ``private``)."""
        return FriendsOut(friends=await social.friends(person(request)))

    @get("/requests", guards=READ)
    async def requests(self, request: Caller, social: Social) -> RequestsOut:
        """Pending requests to and from the caller."""
        found = await social.requests(person(request))
        return RequestsOut(incoming=found.incoming, outgoing=found.outgoing)

    @post("/requests/{user_id:str}", guards=WRITE, status_code=200)
    async def send(self, user_id: UserId, request: Caller, social: Social) -> RelationOut:
        """Ask ``user_id`` to be friends: ``outgoing`` (pending; sending again changes
        nothing) or ``friends`` when they had asked the caller. 409 when the caller blocked
        them."""
        relation = await social.send(person(request), user_id)
        return RelationOut(user_id=user_id, relation=relation)

    @delete("/requests/{user_id:str}", guards=WRITE, status_code=204)
    async def cancel(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Withdraw the caller's request (404 if none; 409 if it was accepted)."""
        await social.cancel(person(request), user_id)

    @post("/requests/{user_id:str}/accept", guards=WRITE, status_code=200)
    async def accept(self, user_id: UserId, request: Caller, social: Social) -> RelationOut:
        """Accept ``user_id``'s request (404 if none; accepting again changes nothing)."""
        relation = await social.accept(person(request), user_id)
        return RelationOut(user_id=user_id, relation=relation)

    @post("/requests/{user_id:str}/decline", guards=WRITE, status_code=204)
    async def decline(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Decline ``user_id``'s request (404 if none; 409 if an accept came first)."""
        await social.decline(person(request), user_id)

    @delete("/{user_id:str}", guards=WRITE, status_code=204)
    async def unfriend(self, user_id: UserId, request: Caller, social: Social) -> None:
        """End the friendship (404 if not friends)."""
        await social.unfriend(person(request), user_id)

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


class TeamController(Controller):
    """Teammates: the friend request's rules for a bond of its own (independent of
    friendship): one invites, the other accepts; crossing invitations join at once."""

    path = "/teammates"
    tags = ["social"]

    @get("/", guards=READ)
    async def teammates(self, request: Caller, social: Social) -> TeammatesOut:
        """The caller's teammates (ids; not those whose visibility is ``private``)."""
        return TeammatesOut(teammates=await social.teammates(person(request)))

    @get("/invitations", guards=READ)
    async def invitations(self, request: Caller, social: Social) -> InvitationsOut:
        """Pending team invitations to and from the caller."""
        found = await social.invitations(person(request))
        return InvitationsOut(incoming=found.incoming, outgoing=found.outgoing)

    @post("/invitations/{user_id:str}", guards=WRITE, status_code=200)
    async def invite(self, user_id: UserId, request: Caller, social: Social) -> RelationOut:
        """Invite ``user_id`` to be teammates: ``outgoing`` (pending; again: nothing new) or
        ``teammates`` when they had invited the caller. 409 when the caller blocked them."""
        relation = await social.invite(person(request), user_id)
        return RelationOut(user_id=user_id, relation=relation)

    @delete("/invitations/{user_id:str}", guards=WRITE, status_code=204)
    async def cancel(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Withdraw the caller's invitation (404 if none; 409 if it was accepted)."""
        await social.cancel_invite(person(request), user_id)

    @post("/invitations/{user_id:str}/accept", guards=WRITE, status_code=200)
    async def accept(self, user_id: UserId, request: Caller, social: Social) -> RelationOut:
        """Accept ``user_id``'s invitation (404 if none; again: nothing new)."""
        relation = await social.accept_invite(person(request), user_id)
        return RelationOut(user_id=user_id, relation=relation)

    @post("/invitations/{user_id:str}/decline", guards=WRITE, status_code=204)
    async def decline(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Decline ``user_id``'s invitation (404 if none; 409 if an accept came first)."""
        await social.decline_invite(person(request), user_id)

    @delete("/{user_id:str}", guards=WRITE, status_code=204)
    async def leave(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Stop being teammates (404 if not teammates)."""
        await social.leave(person(request), user_id)


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
