"""MongoDB persistence: tasks and their version log.

Every change to a task is a link of its version log (``task_versions``), claimed, delivered
and swept by the kit's write path (:mod:`deepiri_kit.chain`, which says why): version ``n``
of task ``T`` is link ``n`` of chain ``T``, holding the full state after the change and
the change's events. The ``tasks`` collection is the read model projected from the log; a
writer that loses a version to a concurrent one decides again from the logged state. The
version documents also keep every event they published (the journal, replayed by the bus
guard when Redis lost events: ``deepiri_kit.events.replay``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit import (
    Conflict,
    NotFound,
    StalePrecondition,
    idempotency_stamp,
    keyset_filter,
    metrics,
    page_of,
)
from deepiri_kit.chain import OUTBOX, Chain, link_id
from deepiri_kit.data.mongo import ensure_indexes, find_by_id
from deepiri_kit.events import JOURNAL, Envelope, EventBus, Journal, journalled, outbox_entry
from task_service.domain.tasks import etag
from task_service.events.publish import STREAM

Document = dict[str, Any]

MAX_SEARCH_CHARS = 100
# Writers that keep losing the version slot give up with a 409 rather than spin.
MAX_ATTEMPTS = 8

SLOT_CONFLICTS = metrics.counter(
    "deepiri_task_version_conflicts_total",
    "Writes that lost a task's version slot to a concurrent writer and decided again.",
)


def task_not_found(task_id: str) -> NotFound:
    return NotFound(f"no task {task_id}")


class VersionMismatch(StalePrecondition):
    """If-Match named a version that is not the current one."""

    def __init__(self, current: int) -> None:
        super().__init__(
            "the task changed since you read it; fetch it again and retry",
            etag=etag(current),
            current_version=current,
        )
        self.current = current


class Contention(Conflict):
    """Too many concurrent writers to one task; the caller may retry."""

    def __init__(self) -> None:
        super().__init__("too many concurrent changes to this task; retry")


@dataclass
class Decision:
    """What a change does: the next full task state, and how to record and announce it."""

    state: Document
    action: str
    changed: list[str]
    events: list[Envelope] = field(default_factory=list)
    reason: str | None = None


@dataclass(frozen=True)
class Outcome:
    task: Document  # the task after the call (with ``_id``)
    changed: bool  # False when the request changed nothing (an idempotent repeat)


# decide(current task, the version a change would get) → Decision, or None for "no change".
Decide = Callable[[Document, int], Decision | None]

SORTS: dict[str, tuple[str, bool]] = {
    # name: (field, descending)
    "created": ("created_at", True),
    "updated": ("updated_at", True),
    "due": ("due_key", False),
    "priority": ("priority_rank", True),
}


# Where a page starts: after the task with this sort value and id (from the cursor).
Position = tuple[Any, ObjectId]


@dataclass(frozen=True)
class TaskQuery:
    status: str | None = None  # open | completed | deleted
    kind: str | None = None
    tag: str | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None
    text: str | None = None
    sort: str = "created"


def object_id(task_id: str) -> ObjectId | None:
    return ObjectId(task_id) if ObjectId.is_valid(task_id) and len(task_id) == 24 else None


def text_filter(text: str) -> Document:
    """Case-insensitive substring match on title or notes. The text is escaped, so it is
    matched literally (no regex operators), and capped, so it cannot make the match costly."""
    pattern = re.escape(text[:MAX_SEARCH_CHARS])
    return {
        "$or": [
            {"title": {"$regex": pattern, "$options": "i"}},
            {"notes": {"$regex": pattern, "$options": "i"}},
        ]
    }


class TaskStore:
    def __init__(self, db: AsyncDatabase[Document], bus: EventBus) -> None:
        self.tasks = db["tasks"]
        # A link the sweep finds undelivered may not be projected yet either: repair first.
        self.log = Chain(db["task_versions"], bus, repair=self._repair)
        self.versions = self.log.links
        # What the bus guard replays: every version's events, by the version's time.
        self.journal = Journal(self.versions, time_field="at")

    async def ensure_indexes(self) -> None:
        def by_owner(name: str, key: str, direction: int) -> IndexModel:
            return IndexModel([("owner", 1), (key, direction), ("_id", direction)], name=name)

        await ensure_indexes(
            self.tasks,
            [
                by_owner("owner_created", "created_at", DESCENDING),
                by_owner("owner_updated", "updated_at", DESCENDING),
                by_owner("owner_due", "due_key", ASCENDING),
                by_owner("owner_priority", "priority_rank", DESCENDING),
            ],
        )
        await self.log.ensure_indexes(
            IndexModel([("task_id", 1), ("n", 1)], name="task_versions"),
            IndexModel([("at", 1)], name="versions_at"),
        )

    # --- writes ---------------------------------------------------------------------------

    async def create(
        self,
        task: Document,
        *,
        author: str,
        event_for: Callable[[str, Document], Envelope],
        extra: Mapping[str, Any] | None = None,
    ) -> Document:
        """Log version 1 with its ``task.created`` event, then insert the task document.
        ``extra``: further fields stamped on the version record (e.g. an idempotency key)."""
        task_id = ObjectId()
        decision = Decision(
            state=task,
            action="create",
            changed=[],
            events=[event_for(str(task_id), task)],
        )
        link = await self._claim(task_id, 1, decision, author, extra)
        assert link is not None, "a fresh ObjectId cannot have a logged version"
        await self._apply(task_id, link)
        await self.log.deliver(link)
        return {"_id": task_id, **task}

    async def mutate(
        self,
        owner: str,
        task_id: str,
        decide: Decide,
        *,
        author: str,
        expected_version: int | None = None,
        allow_deleted: bool = False,
        extra: Mapping[str, Any] | None = None,
        current: Document | None = None,
    ) -> Outcome:
        """Apply ``decide`` to the task's newest state as one logged version.

        ``expected_version`` (from If-Match) must be the current version, checked against
        the log itself: a change that lost its slot to another writer is never applied.
        ``current``: the owner's task as the caller just read it (saves reading it again; if
        it is stale, its version's slot is taken and the newer state is read then).
        """
        oid = object_id(task_id)
        if current is None or oid is None or current.get("_id") != oid:
            current = await self._load(owner, oid)
        for _ in range(MAX_ATTEMPTS):
            if expected_version is not None and current["version"] != expected_version:
                raise VersionMismatch(current["version"])
            if current.get("deleted_at") is not None and not allow_deleted:
                raise task_not_found(task_id)
            version = current["version"] + 1
            decision = decide(current, version)
            if decision is None:
                return Outcome(current, changed=False)
            assert oid is not None  # _load found the task
            link = await self._claim(oid, version, decision, author, extra)
            if link is not None:
                await self._apply(oid, link)
                await self.log.deliver(link)
                return Outcome({"_id": oid, **decision.state}, changed=True)
            SLOT_CONFLICTS.inc()
            newer = await self.log.newer(str(oid), current["version"])
            if newer is not None:
                current = {"_id": oid, **newer["state"]}
        raise Contention()

    async def erase_owner(self, owner: str) -> int:
        """Delete every task of ``owner`` with its whole version log (states, reasons, the
        events journalled for replay) and the log's delivery markers. Versions go first, so
        the sweep can never project an erased task back. How many tasks went."""
        links = await self.versions.find({"owner": owner}, {"_id": 1, "task_id": 1}).to_list()
        task_ids = {str(link["task_id"]) for link in links}
        if links:
            await self.versions.delete_many({"owner": owner})
            await self.log.delivered.delete_many({"_id": {"$in": [link["_id"] for link in links]}})
        result = await self.tasks.delete_many({"owner": owner})
        for task_id in task_ids:
            self.log.forget(task_id)
        return result.deleted_count

    async def _load(self, owner: str, oid: ObjectId | None) -> Document:
        doc = None
        if oid is not None:
            doc = await find_by_id(self.tasks, oid, owner=owner)
        if doc is None:
            raise task_not_found(str(oid))
        return doc

    async def _claim(
        self,
        oid: ObjectId,
        n: int,
        decision: Decision,
        author: str,
        extra: Mapping[str, Any] | None,
    ) -> Document | None:
        """Log version ``n`` with the change's events; the record, or None if ``n`` is taken."""
        record: Document = {
            "task_id": str(oid),
            "owner": decision.state["owner"],
            "n": n,
            "action": decision.action,
            "changed": decision.changed,
            "author": author,
            "reason": decision.reason,
            "at": decision.state["updated_at"],
            "state": decision.state,
            # The version commits the change, so it carries the request's Idempotency-Key.
            **idempotency_stamp(),
        }
        outbox = [outbox_entry(STREAM, event) for event in decision.events]
        record.update(journalled(outbox))  # kept for replays (deepiri_kit.events.replay)
        return await self.log.claim(str(oid), n, record, outbox=outbox, extra=extra)

    async def _apply(self, oid: ObjectId, link: Document) -> None:
        """Bring the task document to the logged version (or a newer one), never backwards."""
        await self.log.project(self.tasks, oid, link, _logged_state)

    async def catch_up(self, task_id: str) -> None:
        """Apply the task's newest logged version if its document is behind (crash repair)."""
        oid = ObjectId(task_id)
        doc = await self.tasks.find_one({"_id": oid}, {"version": 1})
        newest = await self.log.newer(task_id, doc["version"] if doc else 0)
        if newest is not None:
            await self._apply(oid, newest)

    async def _repair(self, task_id: str, link: Document) -> None:
        await self.catch_up(task_id)

    # --- reads ----------------------------------------------------------------------------

    async def get(self, owner: str, task_id: str) -> Document | None:
        oid = object_id(task_id)
        if oid is None:
            return None
        return await find_by_id(self.tasks, oid, owner=owner)

    async def page(
        self, owner: str, query: TaskQuery, limit: int, after: Position | None
    ) -> tuple[list[Document], str | None]:
        field_name, descending = SORTS[query.sort]
        clauses: list[Document] = [{"owner": owner}]
        if query.status == "deleted":
            clauses.append({"deleted_at": {"$ne": None}})
        else:
            clauses.append({"deleted_at": None})
            if query.status is not None:
                clauses.append({"status": query.status})
        if query.kind is not None:
            clauses.append({"kind": query.kind})
        if query.tag is not None:
            clauses.append({"tags": query.tag})
        due: Document = {}
        if query.due_from is not None:
            due["$gte"] = query.due_from
        if query.due_to is not None:
            due["$lt"] = query.due_to
        if due:
            clauses.append({"due_at": due})
        if query.text:
            clauses.append(text_filter(query.text))
        if after is not None:
            clauses.append(keyset_filter(field_name, descending, *after))
        direction = DESCENDING if descending else ASCENDING
        docs = (
            await self.tasks.find(clauses[0] if len(clauses) == 1 else {"$and": clauses})
            .sort([(field_name, direction), ("_id", direction)])
            .limit(limit + 1)
            .to_list()
        )
        return page_of(docs, limit, query.sort, field_name)

    async def versions_of(self, owner: str, task_id: str, limit: int, after: int) -> list[Document]:
        return (
            await self.versions.find(
                {"task_id": task_id, "owner": owner, "n": {"$gt": after}},
                {"state": 0, OUTBOX: 0},
            )
            .sort([("n", ASCENDING)])
            .limit(limit)
            .to_list()
        )

    async def version(self, owner: str, task_id: str, n: int) -> Document | None:
        return await find_by_id(self.versions, link_id(task_id, n), {OUTBOX: 0}, owner=owner)

    async def exists(self, owner: str, task_id: str) -> bool:
        """Whether the task is the owner's (deleted ones included: their history stays)."""
        oid = object_id(task_id)
        return (
            oid is not None
            and await find_by_id(self.tasks, oid, {"_id": 1}, owner=owner) is not None
        )

    async def journalled(self, since: datetime, until: datetime | None) -> AsyncIterator[Document]:
        """The journal's entries of versions logged in the window, oldest first."""
        window = {"$gte": since, **({"$lte": until} if until else {})}
        cursor = self.versions.find({"at": window, JOURNAL: {"$exists": True}}, {JOURNAL: 1})
        async for doc in cursor.sort([("at", ASCENDING), ("_id", ASCENDING)]):
            for entry in doc[JOURNAL]:
                yield entry

    async def open_among(self, owner: str, ids: Sequence[str]) -> list[Document]:
        """Those of ``ids`` that are the owner's live, unfinished tasks (titles only)."""
        oids = [oid for i in ids if (oid := object_id(i)) is not None]
        if not oids:
            return []
        return (
            await self.tasks.find(
                {"_id": {"$in": oids}, "owner": owner, "status": "open", "deleted_at": None},
                {"title": 1},
            )
            .sort([("_id", ASCENDING)])
            .to_list()
        )

    async def summaries(self, owner: str, ids: Sequence[str]) -> dict[str, Document]:
        oids = [oid for i in ids if (oid := object_id(i)) is not None]
        docs = await self.tasks.find(
            {"_id": {"$in": oids}, "owner": owner},
            {"title": 1, "kind": 1, "status": 1, "deleted_at": 1, "estimated_minutes": 1},
        ).to_list()
        return {str(d["_id"]): d for d in docs}

    async def graph_nodes(self, owner: str) -> list[Document]:
        """The owner's live todos (the graph's nodes), oldest first, in one query."""
        return (
            await self.tasks.find(
                {"owner": owner, "kind": "todo", "deleted_at": None},
                {"title": 1, "status": 1, "estimated_minutes": 1},
            )
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .to_list()
        )


def _logged_state(link: Document) -> Document:
    state: Document = link["state"]
    return state
