"""``/api/tasks``: tasks, their completion and their checklist."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter

from deepiri_kit import DEFAULT_LIMIT, BadRequest, CursorQuery, Page, decode_cursor
from task_service.api.params import (
    READ,
    WRITE,
    IfMatch,
    ItemIdPath,
    Limit,
    Request_,
    Service,
    TaskIdPath,
    bson_time,
    caller,
    expected,
    with_etag,
)
from task_service.domain import Kind
from task_service.domain import tasks as rules
from task_service.schemas import (
    ChecklistItemIn,
    ChecklistItemPatch,
    CompleteIn,
    GraphOut,
    TaskCreate,
    TaskOut,
    TaskPatch,
    graph_out,
    task_out,
    to_fields,
)
from task_service.service import ChecklistChange
from task_service.store.tasks import MAX_SEARCH_CHARS, Position, TaskQuery, object_id

TAG_PATTERN = r"^[\w\-. ]+$"  # deepiri_kit.models.Tag's


def position(cursor: str | None, sort: str) -> Position | None:
    """Where the page ``cursor`` names starts (a 400 for a cursor we did not hand out)."""
    if not cursor:
        return None
    value, after_id = decode_cursor(cursor, sort)
    after = object_id(after_id)
    if after is None:
        raise BadRequest("the cursor is malformed; pass next_cursor back unchanged")
    return value, after


class TaskController(Controller):
    path = "/"
    tags = ["tasks"]

    @post("/", guards=WRITE)
    async def create_task(
        self, data: JSONBody[TaskCreate], request: Request_, service: Service
    ) -> Response[TaskOut]:
        """Create a task owned by the caller (publishes ``task.created``)."""
        fields = to_fields(data)
        fields["due_at"] = bson_time(data.due_at)
        return with_etag(await service.create(caller(request), fields), status_code=201)

    @get("/", guards=READ)
    async def list_tasks(
        self,
        request: Request_,
        service: Service,
        status: FromQuery[Literal["open", "completed", "deleted"] | None] = None,
        kind: FromQuery[Kind | None] = None,
        tag: Annotated[str | None, QueryParameter(max_length=40, pattern=TAG_PATTERN)] = None,
        due_from: FromQuery[datetime | None] = None,
        due_to: FromQuery[datetime | None] = None,
        q: Annotated[str | None, QueryParameter(min_length=1, max_length=MAX_SEARCH_CHARS)] = None,
        sort: FromQuery[Literal["created", "updated", "due", "priority"]] = "created",
        limit: Limit = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> Page[TaskOut]:
        """The caller's tasks, filtered and sorted, one page at a time (``next_cursor``).

        ``status=deleted`` lists the trash; ``q`` matches title or notes literally."""
        query = TaskQuery(
            status=status,
            kind=kind,
            tag=tag,
            due_from=bson_time(due_from, "due_from"),
            due_to=bson_time(due_to, "due_to"),
            text=q,
            sort=sort,
        )
        docs, next_cursor, now = await service.page(
            request.user.subject, query, limit, position(cursor, sort)
        )
        return Page(items=[task_out(d, now) for d in docs], next_cursor=next_cursor)

    @get("/graph", guards=READ)
    async def task_graph(self, request: Request_, service: Service) -> GraphOut:
        """The caller's todo dependency graph: topological order, the open tasks ready to
        start (no unfinished blocker), and the critical path of open work by estimate."""
        return graph_out(await service.graph(request.user.subject))

    @get("/{task_id:str}", guards=READ)
    async def get_task(
        self, task_id: TaskIdPath, request: Request_, service: Service
    ) -> Response[TaskOut]:
        """One of the caller's tasks (404 for anyone else's, so ids do not leak)."""
        return with_etag(await service.get(request.user.subject, task_id))

    @patch("/{task_id:str}", guards=WRITE)
    async def update_task(
        self,
        task_id: TaskIdPath,
        data: JSONBody[TaskPatch],
        request: Request_,
        service: Service,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Change the fields present in the body (a stale ``If-Match`` → 412, nothing changes)."""
        fields = to_fields(data)
        reason = fields.pop("reason", None)
        if "due_at" in fields:
            fields["due_at"] = bson_time(data.due_at)  # type: ignore[arg-type]
        seen = await service.update(caller(request), task_id, fields, reason, expected(if_match))
        return with_etag(seen)

    @delete("/{task_id:str}", guards=WRITE, status_code=204)
    async def delete_task(
        self, task_id: TaskIdPath, request: Request_, service: Service, if_match: IfMatch = None
    ) -> Response[None]:
        """Soft delete: the task leaves lists and reads, its history stays, and restoring a
        version brings it back."""
        seen = await service.delete(caller(request), task_id, expected(if_match))
        return Response(None, status_code=204, headers={"ETag": rules.etag(seen.task["version"])})

    @post("/{task_id:str}/complete", guards=WRITE, status_code=200)
    async def complete_task(
        self,
        task_id: TaskIdPath,
        request: Request_,
        service: Service,
        data: JSONBody[CompleteIn | None] = None,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Complete a todo, this period of a daily, or tap a habit (+ or -). Repeating it changes
        nothing and announces nothing; unfinished blockers → 409 naming them."""
        body = data or CompleteIn()
        seen = await service.complete(
            caller(request),
            task_id,
            actual_minutes=body.actual_minutes,
            direction=body.direction,
            expected=expected(if_match),
        )
        return with_etag(seen)

    @post("/{task_id:str}/reopen", guards=WRITE, status_code=200)
    async def reopen_task(
        self, task_id: TaskIdPath, request: Request_, service: Service, if_match: IfMatch = None
    ) -> Response[TaskOut]:
        """Undo a todo's completion, or a daily's completion of the period running now."""
        return with_etag(await service.reopen(caller(request), task_id, expected(if_match)))

    # --- checklist ----------------------------------------------------------------------

    @post("/{task_id:str}/checklist", guards=WRITE)
    async def add_checklist_item(
        self,
        task_id: TaskIdPath,
        data: JSONBody[ChecklistItemIn],
        request: Request_,
        service: Service,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Add an item at the end of the checklist."""
        fields = to_fields(data)
        return await _checklist(
            request, service, task_id, if_match, lambda items: rules.item_added(items, fields), 201
        )

    @patch("/{task_id:str}/checklist/{item_id:str}", guards=WRITE)
    async def change_checklist_item(
        self,
        task_id: TaskIdPath,
        item_id: ItemIdPath,
        data: JSONBody[ChecklistItemPatch],
        request: Request_,
        service: Service,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Check, uncheck or rename an item."""
        changes = to_fields(data)
        return await _checklist(
            request,
            service,
            task_id,
            if_match,
            lambda items: rules.item_changed(items, item_id, changes),
        )

    @delete("/{task_id:str}/checklist/{item_id:str}", guards=WRITE, status_code=200)
    async def remove_checklist_item(
        self,
        task_id: TaskIdPath,
        item_id: ItemIdPath,
        request: Request_,
        service: Service,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Remove an item."""
        return await _checklist(
            request, service, task_id, if_match, lambda items: rules.item_removed(items, item_id)
        )


async def _checklist(
    request: Request_,
    service: Service,
    task_id: str,
    if_match: str | None,
    change: ChecklistChange,
    status_code: int = 200,
) -> Response[TaskOut]:
    seen = await service.change_checklist(caller(request), task_id, change, expected(if_match))
    return with_etag(seen, status_code)
