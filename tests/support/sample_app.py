"""A small service built on the kit, so the kit is tested the way services use it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from bson import ObjectId
from litestar import Controller, Litestar, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect, OperationFailure

from deepiri_kit import (
    MongoSettings,
    Platform,
    Principal,
    RedisSettings,
    ServiceSettings,
    Wiring,
    create_app,
    from_state,
    idempotency,
    requires_scopes,
)
from deepiri_kit.clock import utcnow
from deepiri_kit.errors import NotFound
from deepiri_kit.inbound import OPEN_QUERY
from deepiri_kit.models import Model, Out, ShortText, reject_operator_keys
from deepiri_kit.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    CursorQuery,
    Page,
    decode_cursor,
    keyset_filter,
    page_of,
)
from deepiri_kit.types import ObjectIdPath, ObjectIdStr

PREFIX = "/api/sample"
Notes_ = NamedDependency[AsyncCollection[Any]]


@dataclass(frozen=True, kw_only=True)
class SampleSettings(ServiceSettings, MongoSettings, RedisSettings):
    service_name: str = "sample-service"
    port: int = 5999


class NoteIn(Model):
    title: ShortText
    tags: Annotated[list[ShortText], msgspec.Meta(max_length=5)] = []
    stars: Annotated[int, msgspec.Meta(ge=0, le=5)] = 0
    remind_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    related: ObjectIdStr | None = None


class NoteOut(Out):
    id: str
    title: str
    tags: list[str]
    created_at: datetime
    stars: int = 0
    related: str | None = None


def note_out(doc: dict[str, Any]) -> NoteOut:
    return NoteOut(
        id=str(doc["_id"]),
        title=doc["title"],
        tags=doc["tags"],
        created_at=doc["created_at"],
        stars=doc.get("stars", 0),
        related=doc.get("related"),
    )


class Notes(Controller):
    path = "/notes"

    @post("/", guards=[requires_scopes("notes:write")])
    async def create(
        self, data: JSONBody[NoteIn], request: Request[Principal, Any, Any], notes: Notes_
    ) -> NoteOut:
        doc = {
            "_id": ObjectId(),
            "owner": request.user.subject,
            "title": data.title,
            "tags": data.tags,
            "stars": data.stars,
            "related": data.related,
            "created_at": utcnow(),
            **idempotency.stamp(),  # the insert commits the change: it carries the key
        }
        await notes.insert_one(doc)
        return note_out(doc)

    @post("/committed-then-lost", guards=[requires_scopes("notes:write")])
    async def committed_then_lost(
        self, data: JSONBody[NoteIn], request: Request[Principal, Any, Any], notes: Notes_
    ) -> NoteOut:
        """Commits, then loses its connection before answering (as a store's follow-up
        write would when MongoDB drops mid-request)."""
        await notes.insert_one(
            {"owner": request.user.subject, "title": data.title, **idempotency.stamp()}
        )
        raise AutoReconnect("connection closed after the write")

    @get("/busy", guards=[requires_scopes("notes:read")])
    async def busy_read(self, request: Request[Any, Any, Any]) -> dict[str, int]:
        """Reports "database is locked" (FerretDB's busy SQLite) the first ``busy`` times."""
        return _busy(request.app.state)

    @post("/busy", guards=[requires_scopes("notes:write")])
    async def busy_write(self, request: Request[Any, Any, Any]) -> dict[str, int]:
        return _busy(request.app.state)

    @get("/", guards=[requires_scopes("notes:read")])
    async def list_notes(
        self,
        request: Request[Principal, Any, Any],
        notes: Notes_,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> Page[NoteOut]:
        query: dict[str, Any] = {"owner": request.user.subject}
        if cursor:
            value, after_id = decode_cursor(cursor, "created")
            query.update(keyset_filter("created_at", True, value, ObjectId(after_id)))
        docs = (
            await notes.find(query)
            .sort([("created_at", -1), ("_id", -1)])
            .limit(limit + 1)
            .to_list()
        )
        items, next_cursor = page_of(docs, limit, "created", "created_at")
        return Page(items=[note_out(d) for d in items], next_cursor=next_cursor)

    @get("/{note_id:str}", guards=[requires_scopes("notes:read")])
    async def read(
        self, note_id: ObjectIdPath, request: Request[Principal, Any, Any], notes: Notes_
    ) -> NoteOut:
        doc = await notes.find_one({"_id": ObjectId(note_id), "owner": request.user.subject})
        if doc is None:
            raise NotFound(f"no note {note_id}")
        return note_out(doc)

    @get("/echo-id/{note_id:str}", guards=[requires_scopes("notes:read")])
    async def echo_id(self, note_id: ObjectIdPath) -> dict[str, str]:
        """What the handler receives for an id, however it was spelled."""
        return {"id": note_id}

    @post("/metadata", guards=[requires_scopes("notes:write")], status_code=200)
    async def metadata(self, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        """A free-form JSON body (like webhook payloads), checked before it goes anywhere."""
        reject_operator_keys(data)
        return {"keys": sorted(data)}

    @get("/search", guards=[requires_scopes("notes:read")], opt={OPEN_QUERY: True})
    async def search(self, request: Request[Principal, Any, Any]) -> dict[str, list[str]]:
        """A route that opted out of the unknown-parameter rule (it reads any parameter)."""
        return {"params": sorted(request.query_params)}

    @get("/boom", guards=[requires_scopes("notes:read")])
    async def boom(self) -> None:
        raise RuntimeError("secret internal detail")


def _busy(state: Any) -> dict[str, int]:
    state.busy_calls = state.get("busy_calls", 0) + 1
    if state.busy_calls <= state.get("busy", 0):
        raise OperationFailure("database is locked", code=1)
    return {"calls": state.busy_calls}


@post("/public-ping", opt={"public": True})
async def public_ping() -> dict[str, str]:
    """A route without authentication (like a webhook or the OAuth token endpoint)."""
    return {"id": ObjectId().__str__()}


@asynccontextmanager
async def setup(platform: Platform) -> AsyncIterator[Wiring]:
    notes = platform.require_mongo()["notes"]
    yield Wiring(state={"notes": notes}, stamped=[notes])


def build(settings: SampleSettings) -> Litestar:
    return create_app(
        settings,
        prefix=PREFIX,
        title="sample",
        route_handlers=[Notes, public_ping],
        dependencies={"notes": from_state("notes")},
        setup=setup,
    )
