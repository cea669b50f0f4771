"""``/api/challenges/items``: the example resource (replace it with yours)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from challenge_service.schemas import CountOut, ItemIn, ItemOut
from challenge_service.service import ItemService
from deepiri_kit import DEFAULT_LIMIT, MAX_LIMIT, Principal, requires_scopes

Service = NamedDependency[ItemService]
Caller = Request[Principal, Any, Any]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
READ = [requires_scopes("challenge:read")]
WRITE = [requires_scopes("challenge:write")]


class ItemController(Controller):
    path = "/items"
    tags = ["items"]

    @post("/", guards=WRITE)
    async def create_item(
        self, data: JSONBody[ItemIn], request: Caller, service: Service
    ) -> ItemOut:
        """Create an item owned by the caller (publishes ``item.created``)."""
        item = await service.create(request.user.subject, data.name, data.quantity)
        return ItemOut.of(item)

    @get("/", guards=READ)
    async def list_items(
        self, request: Caller, service: Service, limit: Limit = DEFAULT_LIMIT
    ) -> list[ItemOut]:
        """The caller's items, newest first."""
        return [ItemOut.of(i) for i in await service.newest(request.user.subject, limit)]

    @get("/count", guards=READ)
    async def count_items(self, request: Caller, service: Service) -> CountOut:
        """How many items the consumer has seen announced for the caller."""
        return CountOut(count=await service.count(request.user.subject))

    @get("/{item_id:str}", guards=READ)
    async def get_item(self, item_id: FromPath[str], request: Caller, service: Service) -> ItemOut:
        """One of the caller's items (404 for anyone else's, so ids do not leak)."""
        return ItemOut.of(await service.get(request.user.subject, item_id))
