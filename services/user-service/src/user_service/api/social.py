"""``/api/users/friends`` and ``/api/users/blocks``: friend requests (send, accept, decline,
cancel), friends and unfriending, mutual friends, friends-of-friends suggestions, blocks.

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
    MutualOut,
    RelationOut,
    RequestsOut,
    SuggestionOut,
    SuggestionsOut,
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
        """The caller's friends (ids)."""
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


class BlockController(Controller):
    path = "/blocks"
    tags = ["social"]

    @get("/", guards=READ)
    async def blocked(self, request: Caller, social: Social) -> BlocksOut:
        """Whom the caller blocked."""
        return BlocksOut(blocked=await social.blocked(person(request)))

    @put("/{user_id:str}", guards=WRITE, status_code=204)
    async def block(self, user_id: UserId, request: Caller, social: Social) -> None:
        """Block ``user_id``: ends a friendship and any request, hides each from the other
        (profile, mutual friends, suggestions) and refuses requests either way. They are not
        told. Blocking again changes nothing."""
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
