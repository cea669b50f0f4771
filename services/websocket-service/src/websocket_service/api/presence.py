"""``/socket.io/presence``: whether users are online and when they were last seen."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from deepiri_kit import requires_scopes
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
    async def presence(self, user_ids: UserIds, service: Service) -> list[PresenceOut]:
        """Online status and last seen of the given users (``?user_id=a&user_id=b``, at most
        200), in the order asked. The caller passes the ids (their friends) for now:
        user-service's social graph is not consulted yet."""
        return [PresenceOut.of(p) for p in await service.presence_of(user_ids)]
