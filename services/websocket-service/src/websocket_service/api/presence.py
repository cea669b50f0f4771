"""``/socket.io/presence``: whether the caller's friends are online and when they were last
seen (friends as user-service's social graph says; a service's token may ask about anyone)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from deepiri_kit import Principal, requires_scopes
from websocket_service.domain.presence import MAX_USERS_PER_QUERY
from websocket_service.schemas import PresenceOut
from websocket_service.service import Realtime

Service = NamedDependency[Realtime]
UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
UserIds = Annotated[
    list[UserId],
    QueryParameter(
        name="user_id",
        min_items=1,
        max_items=MAX_USERS_PER_QUERY,
        # Litestar leaves the items' own limits out of the document: state them.
        schema_extra={"items": {"type": "string", "minLength": 1, "maxLength": 200}},
    ),
]
READ = [requires_scopes("users:read")]


class PresenceController(Controller):
    path = "/presence"
    tags = ["presence"]

    @get("/", guards=READ)
    async def presence(
        self, request: Request[Principal, Any, Any], user_ids: UserIds, service: Service
    ) -> list[PresenceOut]:
        """Online status and last seen of the given users (``?user_id=a&user_id=b``, at most
        200), in the order asked: the caller's friends (or the caller) only — anyone else is
        a 403 naming them. A service's token may ask about anyone."""
        caller = request.user
        if caller.is_service:
            found = await service.presence_of(user_ids)
        else:
            found = await service.presence_for(caller.subject, user_ids)
        return [PresenceOut.of(p) for p in found]

    @get("/friends", guards=READ)
    async def friends(
        self, request: Request[Principal, Any, Any], service: Service
    ) -> list[PresenceOut]:
        """Every friend of the caller, online or not (sorted by id)."""
        return [PresenceOut.of(p) for p in await service.friends_presence(request.user.subject)]
