"""task-service's use cases: everything a handler or a CLI command would otherwise repeat.

No HTTP here. Refusals are the kit's domain errors (``NotFound``, ``Conflict``, ``Invalid``,
``StalePrecondition``), raised by the rules, the stores or here; the app maps them to problem
documents. Every change is one logged version (``TaskStore.mutate``): a use case says what
the change is (a *decision*: next state, action, events), the store logs and delivers it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deepiri_kit import Conflict, Forbidden, Invalid, NotFound, metrics, utcnow
from deepiri_kit.contracts import tasks as contract
from deepiri_kit.data.mongo import Tombstones
from deepiri_kit.events import Envelope
from task_service.domain import graph
from task_service.domain import tasks as rules
from task_service.domain.diff import changed_fields, diff
from task_service.events import publish
from task_service.store.edges import EdgeStore
from task_service.store.tasks import (
    Decision,
    Document,
    Position,
    TaskQuery,
    TaskStore,
    object_id,
    task_not_found,
)

TASKS_CREATED = metrics.counter("deepiri_tasks_created_total", "Tasks created.", ("kind",))
TASKS_COMPLETED = metrics.counter(
    "deepiri_tasks_completed_total", "Real task completions (repeats not counted).", ("kind",)
)
ACCOUNTS_ERASED = metrics.counter(
    "deepiri_task_account_erasures_total",
    "Account erasures run (user.deleted handled; a redelivery runs one that finds nothing).",
)


@dataclass(frozen=True)
class Caller:
    """Who acts: the owner whose tasks these are, and the author recorded on versions."""

    owner: str
    author: str


@dataclass(frozen=True)
class Seen:
    """A task as a use case left it, and when: a daily's view (its period) is taken then."""

    task: Document
    now: datetime
    changed: bool = True


@dataclass(frozen=True)
class Linked:
    """The task at the other end of a dependency edge (None fields: it no longer exists)."""

    task_id: str
    type: str
    title: str | None
    status: str | None
    created_at: datetime


@dataclass(frozen=True)
class Dependencies:
    depends_on: list[Linked]  # what this task depends on
    dependents: list[Linked]  # what depends on this task


@dataclass(frozen=True)
class Erased:
    """What erasing an account removed (all zero when it was erased before)."""

    tasks: int
    edges: int
    requests: int


ChecklistChange = Callable[[list[Document]], list[Document]]


def account_deleted() -> Forbidden:
    return Forbidden("this account has been deleted")


def state_of(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if k != "_id"}


def updated(
    task_id: str,
    before: Document,
    after: Document | None,
    action: str,
    reason: str | None = None,
    restored_from: int | None = None,
) -> Decision | None:
    """A change announced as ``task.updated`` (None: nothing changed)."""
    if after is None:
        return None
    changed = changed_fields(before, after, rules.TRACKED_FIELDS)
    return Decision(
        state=after,
        action=action,
        changed=changed,
        events=[publish.task_updated(task_id, after, changed, restored_from)],
        reason=reason,
    )


class TaskService:
    def __init__(self, store: TaskStore, edges: EdgeStore, erasures: Tombstones) -> None:
        self.store = store
        self.edges = edges
        self.erasures = erasures

    async def ensure_indexes(self) -> None:
        await self.store.ensure_indexes()
        await self.edges.ensure_indexes()

    # --- tasks ----------------------------------------------------------------------------

    async def create(self, caller: Caller, fields: dict[str, Any]) -> Seen:
        """A task owned by the caller (announces ``task.created``)."""
        if await self.erasures.buried(caller.owner):
            raise account_deleted()  # a token issued before the account was deleted
        now = utcnow()
        task = rules.new_task(caller.owner, fields, now)
        doc = await self.store.create(task, author=caller.author, event_for=publish.task_created)
        await self._undo_if_erased(caller.owner)
        TASKS_CREATED.labels(task["kind"]).inc()
        return Seen(doc, now)

    async def page(
        self, owner: str, query: TaskQuery, limit: int, after: Position | None
    ) -> tuple[list[Document], str | None, datetime]:
        docs, next_cursor = await self.store.page(owner, query, limit, after)
        return docs, next_cursor, utcnow()

    async def get(self, owner: str, task_id: str) -> Seen:
        """One of the owner's live tasks (NotFound for anyone else's, so ids do not leak)."""
        doc = await self.store.get(owner, task_id)
        if doc is None or doc.get("deleted_at") is not None:
            raise task_not_found(task_id)
        return Seen(doc, utcnow())

    async def update(
        self,
        caller: Caller,
        task_id: str,
        fields: dict[str, Any],
        reason: str | None,
        expected: int | None,
    ) -> Seen:
        """Change the given fields (``expected``: the version If-Match names)."""
        now = utcnow()

        def decide(current: Document, version: int) -> Decision | None:
            after = rules.patched(state_of(current), fields, version, now)
            return updated(task_id, current, after, "update", reason)

        return await self._mutate(caller, task_id, decide, now, expected)

    async def delete(self, caller: Caller, task_id: str, expected: int | None) -> Seen:
        """Soft delete: the task leaves lists and reads, its history stays."""
        now = utcnow()

        def decide(current: Document, version: int) -> Decision:
            after = rules.soft_deleted(state_of(current), version, now)
            return Decision(
                state=after,
                action="delete",
                changed=["deleted_at"],
                events=[publish.task_deleted(task_id, after)],
            )

        return await self._mutate(caller, task_id, decide, now, expected)

    async def complete(
        self,
        caller: Caller,
        task_id: str,
        *,
        actual_minutes: int | None,
        direction: contract.Direction,
        expected: int | None,
    ) -> Seen:
        """Complete a todo, this period of a daily, or tap a habit. A repeat changes and
        announces nothing; an open todo with unfinished blockers is refused, naming them."""
        current = (await self.get(caller.owner, task_id)).task
        if current["kind"] == "todo" and current["status"] == "open":
            blockers = await self.store.open_among(
                caller.owner, await self.edges.blocking(caller.owner, task_id)
            )
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
                actual_minutes=actual_minutes,
                direction=direction,
            )
            if result is None:
                return None
            after, completion = result
            return Decision(
                state=after,
                action="complete",
                changed=changed_fields(current, after, rules.TRACKED_FIELDS),
                events=[
                    publish.task_completed(
                        after, rules.completion_event(task_id, after, completion)
                    )
                ],
            )

        # The task just read is where the change starts (a stale one only costs a retry).
        seen = await self._mutate(caller, task_id, decide, now, expected, current=current)
        if seen.changed:
            TASKS_COMPLETED.labels(seen.task["kind"]).inc()
        return seen

    async def reopen(self, caller: Caller, task_id: str, expected: int | None) -> Seen:
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
                events=[publish.task_reopened(task_id, after, completion_id)],
            )

        return await self._mutate(caller, task_id, decide, now, expected)

    async def change_checklist(
        self, caller: Caller, task_id: str, change: ChecklistChange, expected: int | None
    ) -> Seen:
        """Apply ``change`` (a rule: ``rules.item_added`` …) to the task's checklist."""
        now = utcnow()

        def decide(current: Document, version: int) -> Decision | None:
            after = rules.with_checklist(
                state_of(current), change(current["checklist"]), version, now
            )
            return updated(task_id, current, after, "checklist")

        return await self._mutate(caller, task_id, decide, now, expected)

    async def _mutate(
        self,
        caller: Caller,
        task_id: str,
        decide: Callable[[Document, int], Decision | None],
        now: datetime,
        expected: int | None,
        *,
        allow_deleted: bool = False,
        current: Document | None = None,
    ) -> Seen:
        outcome = await self.store.mutate(
            caller.owner,
            task_id,
            decide,
            author=caller.author,
            expected_version=expected,
            allow_deleted=allow_deleted,
            current=current,
        )
        if outcome.changed:
            await self._undo_if_erased(caller.owner)
        return Seen(outcome.task, now, outcome.changed)

    # --- versions -------------------------------------------------------------------------

    async def versions(
        self, owner: str, task_id: str, after: int, limit: int
    ) -> tuple[list[Document], int | None]:
        """The task's versions after ``after``, oldest first, and where the next page starts
        (deleted tasks keep their history)."""
        if not await self.store.exists(owner, task_id):
            raise task_not_found(task_id)
        records = await self.store.versions_of(owner, task_id, limit + 1, after)
        page = records[:limit]
        return page, page[-1]["n"] if len(records) > limit and page else None

    async def version(self, owner: str, task_id: str, n: int) -> Document:
        record = None if object_id(task_id) is None else await self.store.version(owner, task_id, n)
        if record is None:
            raise NotFound(f"no version {n} of task {task_id}")
        return record

    async def diff(self, owner: str, task_id: str, from_version: int, to_version: int) -> Document:
        """Field-level differences between two versions (checklist items by id)."""
        before = await self.version(owner, task_id, from_version)
        after = await self.version(owner, task_id, to_version)
        return diff(before["state"], after["state"], rules.TRACKED_FIELDS)

    async def restore(
        self, caller: Caller, task_id: str, n: int, reason: str | None, expected: int | None
    ) -> Seen:
        """Bring back version ``n``'s fields as a new version (undeleting the task)."""
        record = await self.version(caller.owner, task_id, n)
        now = utcnow()

        def decide(current: Document, version: int) -> Decision | None:
            after = rules.restored(state_of(current), record["state"], version, now)
            if not changed_fields(current, after, rules.TRACKED_FIELDS):
                return None
            why = reason or f"restored version {n}"
            return updated(task_id, current, after, "restore", why, restored_from=n)

        return await self._mutate(caller, task_id, decide, now, expected, allow_deleted=True)

    # --- the dependency graph -------------------------------------------------------------

    async def graph(self, owner: str) -> graph.Overview:
        """The owner's todo graph: order, what is ready, the critical path."""
        nodes = await self.store.graph_nodes(owner)
        edges = await self.edges.owner_edges(owner)
        return graph.overview(
            [
                graph.Node(str(n["_id"]), n["status"] == "open", n.get("estimated_minutes"))
                for n in nodes
            ],
            edges,
        )

    async def add_dependency(
        self, owner: str, task_id: str, depends_on: str, edge_type: str
    ) -> tuple[Document, bool]:
        """Make ``task_id`` depend on ``depends_on``; (the edge, whether it is new). An
        ordering edge that would close a cycle is refused with the cycle's path."""
        if task_id == depends_on:
            raise Conflict("a task cannot depend on itself", cycle=[task_id, task_id])
        found = await self.store.summaries(owner, [task_id, depends_on])
        for ident in (task_id, depends_on):
            if ident not in found or found[ident].get("deleted_at") is not None:
                raise task_not_found(ident)
        ordering = edge_type in graph.ORDERING
        if ordering and {found[i]["kind"] for i in (task_id, depends_on)} != {"todo"}:
            raise Invalid(f"{edge_type} edges link todos only (dailies and habits never finish)")
        edges = await self.edges.owner_edges(owner)
        existing = next((e for e in edges if (e.task, e.depends_on) == (task_id, depends_on)), None)
        if existing is not None and existing.type != edge_type:
            raise Conflict(
                f"this task already depends on {depends_on} as {existing.type}; "
                "delete that edge first",
                existing_type=existing.type,
            )
        if existing is None and ordering:
            cycle = graph.find_cycle(edges, task_id, depends_on)
            if cycle:
                raise Conflict("this dependency would create a cycle", cycle=cycle)
        doc, created = await self.edges.add(
            owner, graph.Edge(task_id, depends_on, edge_type), utcnow()
        )
        if created:
            await self._undo_if_erased(owner)
        if created and ordering:
            # Two edges added at once could each pass the check above and close a cycle
            # together; whoever sees the cycle after its insert takes its own edge back.
            others = [
                e
                for e in await self.edges.owner_edges(owner)
                if (e.task, e.depends_on) != (task_id, depends_on)
            ]
            cycle = graph.find_cycle(others, task_id, depends_on)
            if cycle:
                await self.edges.remove(owner, task_id, depends_on)
                raise Conflict("this dependency would create a cycle", cycle=cycle)
        return doc, created

    async def remove_dependency(self, owner: str, task_id: str, other: str) -> None:
        if not await self.edges.remove(owner, task_id, other):
            raise NotFound(f"task {task_id} does not depend on {other}")

    async def dependencies(self, owner: str, task_id: str) -> Dependencies:
        """Both directions: what the task depends on, and what depends on it."""
        if not await self.store.exists(owner, task_id):
            raise task_not_found(task_id)
        docs = await self.edges.touching(owner, task_id)
        others = [d["depends_on"] if d["task_id"] == task_id else d["task_id"] for d in docs]
        found = await self.store.summaries(owner, others)

        def linked(doc: Document, other: str) -> Linked:
            task = found.get(other)
            return Linked(
                task_id=other,
                type=doc["type"],
                title=task["title"] if task else None,
                status=("deleted" if task.get("deleted_at") else task["status"]) if task else None,
                created_at=doc["created_at"],
            )

        return Dependencies(
            depends_on=[linked(d, d["depends_on"]) for d in docs if d["task_id"] == task_id],
            dependents=[linked(d, d["task_id"]) for d in docs if d["depends_on"] == task_id],
        )

    # --- erasure ----------------------------------------------------------------------------

    async def erase_account(self, user_id: str, deleted_at: datetime) -> Erased:
        """``user.deleted``: erase everything task-service holds of the account — its tasks
        with their versions and history, its dependency edges, its Idempotency-Key records —
        and keep a tombstone, so nothing written for it later survives. Safe to repeat."""
        await self.erasures.bury(user_id, deleted_at)
        erased = await self._erase(user_id)
        ACCOUNTS_ERASED.inc()
        return erased

    async def _erase(self, user_id: str) -> Erased:
        return Erased(
            tasks=await self.store.erase_owner(user_id),
            edges=await self.edges.erase_owner(user_id),
            requests=await self.erasures.forget_requests(user_id),
        )

    async def _undo_if_erased(self, owner: str) -> None:
        """After a write: if the owner's account was erased meanwhile (the write raced the
        erasure, whose deletes may have run before it landed), erase again and refuse."""
        if await self.erasures.buried(owner):
            await self._erase(owner)
            raise account_deleted()

    # --- operators ------------------------------------------------------------------------

    async def completions(
        self, since: datetime, until: datetime | None
    ) -> AsyncIterator[tuple[Envelope, contract.TaskCompleted]]:
        """Every ``task.completed`` published in the window, from the journal, oldest first."""
        async for entry in self.store.journalled(since, until):
            if entry["type"] == contract.TASK_COMPLETED:
                envelope = Envelope.decode(entry["payload"])
                yield envelope, contract.TaskCompleted.decode(envelope)
