"""HTTP handlers: parse, authorize, call the domain, shape the response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, HeaderParameter, JSONBody, PathParameter, QueryParameter

from deepiri_kit import (
    Conflict,
    Invalid,
    NotFound,
    Principal,
    StalePrecondition,
    metrics,
    requires_scopes,
)
from deepiri_kit.clock import utcnow
from deepiri_kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorQuery, Page
from deepiri_kit.types import LOWER_CASE, MAX_SAFE_INTEGER, ObjectIdPath, to_utc
from task_service import events
from task_service.domain import Kind, graph
from task_service.domain import tasks as rules
from task_service.domain.diff import changed_fields, diff
from task_service.models import (
    ITEM_ID_PATTERN,
    ChecklistItemIn,
    ChecklistItemPatch,
    CompleteIn,
    CriticalPath,
    DependenciesOut,
    DependencyIn,
    DiffOut,
    EdgeOut,
    GraphOut,
    LinkedTask,
    RestoreIn,
    TaskCreate,
    TaskOut,
    TaskPatch,
    VersionOut,
    VersionPage,
    VersionSummary,
    to_fields,
)
from task_service.store import (
    MAX_SEARCH_CHARS,
    Contention,
    Decision,
    Document,
    Outcome,
    TaskNotFound,
    TaskQuery,
    TaskStore,
    VersionMismatch,
    object_id,
)

Store = NamedDependency[TaskStore]
Caller = Request[Principal, Any, Any]
IfMatch = Annotated[str | None, HeaderParameter(name="if-match", required=False)]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
TaskIdPath = ObjectIdPath
ItemIdPath = Annotated[str, PathParameter(pattern=ITEM_ID_PATTERN), LOWER_CASE]
VersionPath = Annotated[int, PathParameter(ge=1, le=MAX_SAFE_INTEGER)]

TAG_PATTERN = r"^[\w\-. ]+$"  # deepiri_kit.models.Tag's
READ = [requires_scopes("tasks:read")]
WRITE = [requires_scopes("tasks:write")]

TASKS_CREATED = metrics.counter("deepiri_tasks_created_total", "Tasks created.", ("kind",))
TASKS_COMPLETED = metrics.counter(
    "deepiri_tasks_completed_total", "Real task completions (repeats not counted).", ("kind",)
)


# --- shaping ----------------------------------------------------------------------------


def task_out(doc: Document, now: datetime) -> TaskOut:
    data = {**doc, "id": str(doc["_id"])}
    if doc["kind"] == "daily":
        data.update(rules.daily_view(doc, now))
    return msgspec.convert(data, TaskOut)


def etag(version: int) -> str:
    return f'"v{version}"'


def with_etag(doc: Document, now: datetime, status_code: int = 200) -> Response[TaskOut]:
    return Response(
        task_out(doc, now), status_code=status_code, headers={"ETag": etag(doc["version"])}
    )


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header names; None for no header or ``*`` (any version).

    An unparseable header can match no version, so it fails the precondition as a stale one
    does (RFC 9110 §13.1.1)."""
    if if_match is None or if_match.strip() == "*":
        return None
    for candidate in if_match.split(","):
        tag = candidate.strip()
        if tag.startswith('"v') and tag.endswith('"') and tag[2:-1].isdigit():
            return int(tag[2:-1])
    raise StalePrecondition(f"If-Match {if_match[:80]!r} names no version of this task")


def bson_time(value: datetime | None, name: str = "due_at") -> datetime | None:
    """UTC with millisecond precision: what MongoDB keeps, so responses equal later reads."""
    if value is None:
        return None
    utc = to_utc(value, name)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def aware_query_time(name: str, value: datetime | None) -> datetime | None:
    return bson_time(value, name)


@asynccontextmanager
async def translated(task_id: str) -> AsyncIterator[None]:
    """Store and rule outcomes as problem documents."""
    try:
        yield
    except TaskNotFound:
        raise NotFound(f"no task {task_id}") from None
    except VersionMismatch as exc:
        raise StalePrecondition(
            "the task changed since you read it; fetch it again and retry",
            etag=etag(exc.current),
            current_version=exc.current,
        ) from None
    except Contention:
        raise Conflict("too many concurrent changes to this task; retry") from None
    except rules.Missing as exc:
        raise NotFound(exc.detail, **exc.extra) from None
    except rules.Refused as exc:
        raise Conflict(exc.detail, **exc.extra) from None
    except rules.RuleViolation as exc:
        raise Invalid(exc.detail, **exc.extra) from None


def author_of(request: Caller) -> str:
    return request.user.subject


async def mutate(
    request: Caller,
    store: TaskStore,
    task_id: str,
    decide: Callable[[Document, int], Decision | None],
    *,
    if_match: str | None = None,
    allow_deleted: bool = False,
) -> Outcome:
    async with translated(task_id):
        return await store.mutate(
            request.user.subject,
            task_id,
            decide,
            author=author_of(request),
            expected_version=expected_version(if_match),
            allow_deleted=allow_deleted,
        )


def updated_decision(
    task_id: str,
    before: Document,
    after: Document | None,
    action: str,
    reason: str | None = None,
    **event_extra: Any,
) -> Decision | None:
    if after is None:
        return None
    changed = changed_fields(before, after, rules.TRACKED_FIELDS)
    return Decision(
        state=after,
        action=action,
        changed=changed,
        events=[events.task_updated(task_id, after, changed, **event_extra)],
        reason=reason,
    )


def state_of(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if k != "_id"}


# --- tasks ------------------------------------------------------------------------------


class TaskController(Controller):
    path = "/"
    tags = ["tasks"]

    @post("/", guards=WRITE)
    async def create_task(
        self, data: JSONBody[TaskCreate], request: Caller, store: Store
    ) -> Response[TaskOut]:
        """Create a task owned by the caller (publishes ``task.created``)."""
        now = utcnow()
        fields = to_fields(data)
        fields["due_at"] = bson_time(data.due_at)
        async with translated("(new)"):
            task = rules.new_task(request.user.subject, fields, now)
        doc = await store.create(task, author=author_of(request), event_for=events.task_created)
        TASKS_CREATED.labels(task["kind"]).inc()
        return with_etag(doc, now, status_code=201)

    @get("/", guards=READ)
    async def list_tasks(
        self,
        request: Caller,
        store: Store,
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
            due_from=aware_query_time("due_from", due_from),
            due_to=aware_query_time("due_to", due_to),
            text=q,
            sort=sort,
        )
        docs, next_cursor = await store.page(request.user.subject, query, limit, cursor)
        now = utcnow()
        return Page(items=[task_out(d, now) for d in docs], next_cursor=next_cursor)

    @get("/graph", guards=READ)
    async def task_graph(self, request: Caller, store: Store) -> GraphOut:
        """The caller's todo dependency graph: topological order, the open tasks ready to
        start (no unfinished blocker), and the critical path of open work by estimate."""
        owner = request.user.subject
        nodes = await store.graph_nodes(owner)
        edges = await store.owner_edges(owner)
        ids = [str(n["_id"]) for n in nodes]
        order, on_cycles = graph.topological_order(ids, edges)
        open_ids = {str(n["_id"]) for n in nodes if n["status"] == "open"}
        open_order = [i for i in order if i in open_ids]
        minutes = {str(n["_id"]): n.get("estimated_minutes") for n in nodes}
        path, total = graph.critical_path(open_order, edges, minutes)
        live = set(ids)
        return GraphOut(
            nodes=len(ids),
            edges=len([e for e in edges if e.task in live and e.depends_on in live]),
            order=order,
            ready=graph.ready([i for i in ids if i in open_ids], edges),
            critical_path=CriticalPath(task_ids=path, total_minutes=total),
            cycles=on_cycles,
        )

    @get("/{task_id:str}", guards=READ)
    async def get_task(
        self, task_id: TaskIdPath, request: Caller, store: Store
    ) -> Response[TaskOut]:
        """One of the caller's tasks (404 for anyone else's, so ids do not leak)."""
        doc = await store.get(request.user.subject, task_id)
        if doc is None or doc.get("deleted_at") is not None:
            raise NotFound(f"no task {task_id}")
        return with_etag(doc, utcnow())

    @patch("/{task_id:str}", guards=WRITE)
    async def update_task(
        self,
        task_id: TaskIdPath,
        data: JSONBody[TaskPatch],
        request: Caller,
        store: Store,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Change the fields present in the body (a stale ``If-Match`` → 412, nothing changes)."""
        fields = to_fields(data)
        reason = fields.pop("reason", None)
        if "due_at" in fields:
            fields["due_at"] = bson_time(data.due_at)  # type: ignore[arg-type]
        now = utcnow()

        def decide(current: Document, version: int) -> Decision | None:
            after = rules.patched(state_of(current), fields, version, now)
            return updated_decision(task_id, current, after, "update", reason)

        outcome = await mutate(request, store, task_id, decide, if_match=if_match)
        return with_etag(outcome.task, now)

    @delete("/{task_id:str}", guards=WRITE, status_code=204)
    async def delete_task(
        self, task_id: TaskIdPath, request: Caller, store: Store, if_match: IfMatch = None
    ) -> Response[None]:
        """Soft delete: the task leaves lists and reads, its history stays, and restoring a
        version brings it back."""
        now = utcnow()

        def decide(current: Document, version: int) -> Decision:
            after = rules.soft_deleted(state_of(current), version, now)
            return Decision(
                state=after,
                action="delete",
                changed=["deleted_at"],
                events=[events.task_deleted(task_id, after)],
            )

        outcome = await mutate(request, store, task_id, decide, if_match=if_match)
        return Response(None, status_code=204, headers={"ETag": etag(outcome.task["version"])})

    @post("/{task_id:str}/complete", guards=WRITE, status_code=200)
    async def complete_task(
        self,
        task_id: TaskIdPath,
        request: Caller,
        store: Store,
        data: JSONBody[CompleteIn | None] = None,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Complete a todo, this period of a daily, or tap a habit (+ or -). Repeating it changes
        nothing and announces nothing; unfinished blockers → 409 naming them."""
        owner = request.user.subject
        body = data or CompleteIn()
        current = await store.get(owner, task_id)
        if current is None or current.get("deleted_at") is not None:
            raise NotFound(f"no task {task_id}")
        if current["kind"] == "todo" and current["status"] == "open":
            blockers = await store.unfinished_blockers(owner, task_id)
            if blockers:
                raise Conflict(
                    "this task is blocked by unfinished tasks",
                    blockers=[{"task_id": str(b["_id"]), "title": b["title"]} for b in blockers],
                )
        now = utcnow()

        def decide(current: Document, version: int) -> Decision | None:
            result = rules.complete(
                state_of(current),
                task_id,
                version=version,
                now=now,
                actual_minutes=body.actual_minutes,
                direction=body.direction,
            )
            if result is None:
                return None
            after, completion = result
            return Decision(
                state=after,
                action="complete",
                changed=changed_fields(current, after, rules.TRACKED_FIELDS),
                events=[events.task_completed(task_id, after, completion)],
            )

        outcome = await mutate(request, store, task_id, decide, if_match=if_match)
        if outcome.changed:
            TASKS_COMPLETED.labels(outcome.task["kind"]).inc()
        return with_etag(outcome.task, now)

    @post("/{task_id:str}/reopen", guards=WRITE, status_code=200)
    async def reopen_task(
        self, task_id: TaskIdPath, request: Caller, store: Store, if_match: IfMatch = None
    ) -> Response[TaskOut]:
        """Undo a todo's completion, or a daily's completion of the period running now."""
        now = utcnow()

        def decide(current: Document, version: int) -> Decision | None:
            result = rules.reopen(state_of(current), version=version, now=now)
            if result is None:
                return None
            after, completion_id = result
            return Decision(
                state=after,
                action="reopen",
                changed=changed_fields(current, after, rules.TRACKED_FIELDS),
                events=[events.task_reopened(task_id, after, completion_id)],
            )

        outcome = await mutate(request, store, task_id, decide, if_match=if_match)
        return with_etag(outcome.task, now)

    # --- checklist ----------------------------------------------------------------------

    @post("/{task_id:str}/checklist", guards=WRITE)
    async def add_checklist_item(
        self,
        task_id: TaskIdPath,
        data: JSONBody[ChecklistItemIn],
        request: Caller,
        store: Store,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Add an item at the end of the checklist."""
        return await self._change_checklist(
            request,
            store,
            task_id,
            if_match,
            lambda items: rules.item_added(items, to_fields(data)),
            201,
        )

    @patch("/{task_id:str}/checklist/{item_id:str}", guards=WRITE)
    async def change_checklist_item(
        self,
        task_id: TaskIdPath,
        item_id: ItemIdPath,
        data: JSONBody[ChecklistItemPatch],
        request: Caller,
        store: Store,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Check, uncheck or rename an item."""
        changes = to_fields(data)
        return await self._change_checklist(
            request,
            store,
            task_id,
            if_match,
            lambda items: rules.item_changed(items, item_id, changes),
        )

    @delete("/{task_id:str}/checklist/{item_id:str}", guards=WRITE, status_code=200)
    async def remove_checklist_item(
        self,
        task_id: TaskIdPath,
        item_id: ItemIdPath,
        request: Caller,
        store: Store,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Remove an item."""
        return await self._change_checklist(
            request, store, task_id, if_match, lambda items: rules.item_removed(items, item_id)
        )

    async def _change_checklist(
        self,
        request: Caller,
        store: TaskStore,
        task_id: str,
        if_match: str | None,
        change: Callable[[list[Document]], list[Document]],
        status_code: int = 200,
    ) -> Response[TaskOut]:
        now = utcnow()

        def decide(current: Document, version: int) -> Decision | None:
            after = rules.with_checklist(
                state_of(current), change(current["checklist"]), version, now
            )
            return updated_decision(task_id, current, after, "checklist")

        outcome = await mutate(request, store, task_id, decide, if_match=if_match)
        return with_etag(outcome.task, now, status_code)


# --- versions ---------------------------------------------------------------------------


class VersionController(Controller):
    path = "/{task_id:str}"
    tags = ["versions"]

    @get("/versions", guards=READ)
    async def list_versions(
        self,
        task_id: TaskIdPath,
        request: Caller,
        store: Store,
        after: Annotated[int, QueryParameter(ge=0, le=MAX_SAFE_INTEGER)] = 0,
        limit: Limit = 50,
    ) -> VersionPage:
        """The task's versions, oldest first (deleted tasks keep their history)."""
        owner = request.user.subject
        if not await store.exists(owner, task_id):
            raise NotFound(f"no task {task_id}")
        records = await store.versions_of(owner, task_id, limit + 1, after)
        items = [msgspec.convert(r, VersionSummary) for r in records[:limit]]
        return VersionPage(
            items=items, next_after=items[-1].n if len(records) > limit and items else None
        )

    @get("/versions/{n:int}", guards=READ)
    async def get_version(
        self, task_id: TaskIdPath, n: VersionPath, request: Caller, store: Store
    ) -> VersionOut:
        """One version: the full snapshot, what changed, who changed it, when and why."""
        record = await self._version(store, request.user.subject, task_id, n)
        return VersionOut(
            n=record["n"],
            action=record["action"],
            changed=record["changed"],
            author=record["author"],
            at=record["at"],
            reason=record.get("reason"),
            snapshot=rules.snapshot(record["state"]),
        )

    @get("/diff", guards=READ)
    async def diff_versions(
        self,
        task_id: TaskIdPath,
        request: Caller,
        store: Store,
        from_version: Annotated[int, QueryParameter(name="from", ge=1, le=MAX_SAFE_INTEGER)],
        to_version: Annotated[int, QueryParameter(name="to", ge=1, le=MAX_SAFE_INTEGER)],
    ) -> DiffOut:
        """Field-level differences from one version to another (checklist items by id)."""
        owner = request.user.subject
        before = await self._version(store, owner, task_id, from_version)
        after = await self._version(store, owner, task_id, to_version)
        result = diff(before["state"], after["state"], rules.TRACKED_FIELDS)
        return msgspec.convert(
            {**result, "task_id": task_id, "from_version": from_version, "to_version": to_version},
            DiffOut,
        )

    @post("/versions/{n:int}/restore", guards=WRITE, status_code=200)
    async def restore_version(
        self,
        task_id: TaskIdPath,
        n: VersionPath,
        request: Caller,
        store: Store,
        data: JSONBody[RestoreIn | None] = None,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Bring back version ``n``'s fields as a new version (undeleting the task)."""
        record = await self._version(store, request.user.subject, task_id, n)
        reason = data.reason if data else None
        now = utcnow()

        def decide(current: Document, version: int) -> Decision | None:
            after = rules.restored(state_of(current), record["state"], version, now)
            if not changed_fields(current, after, rules.TRACKED_FIELDS):
                return None
            return updated_decision(
                task_id,
                current,
                after,
                "restore",
                reason or f"restored version {n}",
                restored_from=n,
            )

        outcome = await mutate(
            request, store, task_id, decide, if_match=if_match, allow_deleted=True
        )
        return with_etag(outcome.task, now)

    @staticmethod
    async def _version(store: TaskStore, owner: str, task_id: str, n: int) -> Document:
        record = None if object_id(task_id) is None else await store.version(owner, task_id, n)
        if record is None:
            raise NotFound(f"no version {n} of task {task_id}")
        return record


# --- dependencies -----------------------------------------------------------------------


class DependencyController(Controller):
    path = "/{task_id:str}/dependencies"
    tags = ["dependencies"]

    @post("/", guards=WRITE)
    async def add_dependency(
        self, task_id: TaskIdPath, data: JSONBody[DependencyIn], request: Caller, store: Store
    ) -> Response[EdgeOut]:
        """Make this task depend on ``depends_on``. An ordering edge (blocks, precedes,
        subtask) that would close a cycle → 409 with the cycle's path."""
        owner = request.user.subject
        edge = graph.Edge(task_id, data.depends_on, data.type)
        if task_id == data.depends_on:
            raise Conflict("a task cannot depend on itself", cycle=[task_id, task_id])
        found = await store.summaries(owner, [task_id, data.depends_on])
        for ident in (task_id, data.depends_on):
            if ident not in found or found[ident].get("deleted_at") is not None:
                raise NotFound(f"no task {ident}")
        ordering = data.type in graph.ORDERING
        if ordering and {found[i]["kind"] for i in (task_id, data.depends_on)} != {"todo"}:
            raise Invalid(f"{data.type} edges link todos only (dailies and habits never finish)")
        edges = await store.owner_edges(owner)
        existing = next(
            (e for e in edges if (e.task, e.depends_on) == (task_id, data.depends_on)), None
        )
        if existing is not None and existing.type != data.type:
            raise Conflict(
                f"this task already depends on {data.depends_on} as {existing.type}; "
                "delete that edge first",
                existing_type=existing.type,
            )
        if existing is None and ordering:
            cycle = graph.find_cycle(edges, task_id, data.depends_on)
            if cycle:
                raise Conflict("this dependency would create a cycle", cycle=cycle)
        doc, created = await store.add_edge(owner, edge, utcnow())
        if created and ordering:
            # Two edges added at once could each pass the check above and close a cycle
            # together; whoever sees the cycle after its insert takes its own edge back.
            others = [
                e
                for e in await store.owner_edges(owner)
                if (e.task, e.depends_on) != (task_id, data.depends_on)
            ]
            cycle = graph.find_cycle(others, task_id, data.depends_on)
            if cycle:
                await store.remove_edge(owner, task_id, data.depends_on)
                raise Conflict("this dependency would create a cycle", cycle=cycle)
        return Response(edge_out(doc), status_code=201 if created else 200)

    @delete("/{other:str}", guards=WRITE, status_code=204)
    async def remove_dependency(
        self, task_id: TaskIdPath, other: TaskIdPath, request: Caller, store: Store
    ) -> None:
        """Remove the edge from this task to ``other``."""
        if not await store.remove_edge(request.user.subject, task_id, other):
            raise NotFound(f"task {task_id} does not depend on {other}")

    @get("/", guards=READ)
    async def list_dependencies(
        self, task_id: TaskIdPath, request: Caller, store: Store
    ) -> DependenciesOut:
        """Both directions: what this task depends on, and what depends on it."""
        owner = request.user.subject
        if not await store.exists(owner, task_id):
            raise NotFound(f"no task {task_id}")
        docs = await store.edges_touching(owner, task_id)
        others = [d["depends_on"] if d["task_id"] == task_id else d["task_id"] for d in docs]
        found = await store.summaries(owner, others)

        def linked(doc: Document, other: str) -> LinkedTask:
            task = found.get(other)
            return LinkedTask(
                task_id=other,
                type=doc["type"],
                title=task["title"] if task else None,
                status=("deleted" if task.get("deleted_at") else task["status"]) if task else None,
                created_at=doc["created_at"],
            )

        return DependenciesOut(
            task_id=task_id,
            depends_on=[linked(d, d["depends_on"]) for d in docs if d["task_id"] == task_id],
            dependents=[linked(d, d["task_id"]) for d in docs if d["depends_on"] == task_id],
        )


def edge_out(doc: Document) -> EdgeOut:
    return EdgeOut(
        task_id=doc["task_id"],
        depends_on=doc["depends_on"],
        type=doc["type"],
        created_at=doc["created_at"],
    )


ROUTES = [TaskController, VersionController, DependencyController]
