"""MongoDB persistence: tasks, their version log, and dependency edges.

Why a version log decides every write
-------------------------------------
Conditional updates (``update_one``/``find_one_and_update`` with a version filter) are not
atomic on FerretDB, our MongoDB-wire test server: under concurrency several writers all
"win" the same compare-and-set (measured: up to 21 of 30). The one write that is atomic on
every MongoDB-wire server is an insert into a unique key. So a change to task T at version
n claims the slot by inserting the version document ``T:n+1``: exactly one writer gets it,
and that document also carries the change's events in its ``_outbox`` (change and events are
one atomic write). The task document is then brought up to date from the log. The log is the
truth: a writer that loses the slot reads the newest logged state and decides again, and the
:class:`VersionSweeper` finishes whatever a crash left half done (a version logged but not
yet applied to the task document, events not yet published).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from redis.exceptions import RedisError

from deepiri_kit import metrics
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import Envelope, OutboxRelay, outbox_entry
from deepiri_kit.events.outbox import OUTBOX, OUTBOX_INDEX
from deepiri_kit.pagination import decode_cursor, keyset_filter, page_of
from deepiri_kit.problems import BadRequest
from deepiri_kit.tracing import untraced
from deepiri_kit.workers import pause
from task_service.domain.graph import BLOCKING, Edge
from task_service.events import STREAM

Document = dict[str, Any]

MAX_SEARCH_CHARS = 100
# Writers that keep losing the version slot give up with a 409 rather than spin.
MAX_ATTEMPTS = 8

SLOT_CONFLICTS = metrics.counter(
    "deepiri_task_version_conflicts_total",
    "Writes that lost a task's version slot to a concurrent writer and decided again.",
)


class TaskNotFound(Exception):
    pass


class VersionMismatch(Exception):
    """If-Match named a version that is not the current one."""

    def __init__(self, current: int) -> None:
        super().__init__(f"current version is {current}")
        self.current = current


class Contention(Exception):
    """Too many concurrent writers to one task; the caller may retry."""


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


def version_key(task_id: ObjectId | str, n: int) -> str:
    return f"{task_id}:{n}"


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
    def __init__(self, db: AsyncDatabase[Document], relay: OutboxRelay) -> None:
        self.tasks = db["tasks"]
        self.versions = db["task_versions"]
        self.edges = db["task_edges"]
        self.relay = relay

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
        await ensure_indexes(
            self.versions,
            [IndexModel([("task_id", 1), ("n", 1)], name="task_versions"), OUTBOX_INDEX],
        )
        await ensure_indexes(
            self.edges,
            [
                IndexModel([("owner", 1), ("task_id", 1)], name="owner_task"),
                IndexModel([("owner", 1), ("depends_on", 1)], name="owner_depends_on"),
            ],
        )

    # --- writes ---------------------------------------------------------------------------

    async def create(
        self, task: Document, *, author: str, event_for: Callable[[str, Document], Envelope]
    ) -> Document:
        """Log version 1 with its ``task.created`` event, then insert the task document."""
        task_id = ObjectId()
        decision = Decision(
            state=task,
            action="create",
            changed=[],
            events=[event_for(str(task_id), task)],
        )
        entries = await self._claim(task_id, 1, decision, author)
        assert entries is not None, "a fresh ObjectId cannot have a logged version"
        await self._apply(task_id, 1, task)
        await self.relay.deliver(self.versions, version_key(task_id, 1), entries)
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
    ) -> Outcome:
        """Apply ``decide`` to the task's newest state as one logged version.

        ``expected_version`` (from If-Match) must be the current version, checked against
        the log itself: a change that lost its slot to another writer is never applied.
        """
        oid = object_id(task_id)
        current = await self._load(owner, oid)
        for _ in range(MAX_ATTEMPTS):
            if expected_version is not None and current["version"] != expected_version:
                raise VersionMismatch(current["version"])
            if current.get("deleted_at") is not None and not allow_deleted:
                raise TaskNotFound(task_id)
            version = current["version"] + 1
            decision = decide(current, version)
            if decision is None:
                return Outcome(current, changed=False)
            assert oid is not None  # _load found the task
            entries = await self._claim(oid, version, decision, author)
            if entries is not None:
                await self._apply(oid, version, decision.state)
                if entries:
                    await self.relay.deliver(self.versions, version_key(oid, version), entries)
                return Outcome({"_id": oid, **decision.state}, changed=True)
            SLOT_CONFLICTS.inc()
            current = await self._newest(oid, after=current["version"]) or current
        raise Contention(task_id)

    async def _load(self, owner: str, oid: ObjectId | None) -> Document:
        doc = None
        if oid is not None:
            doc = await self.tasks.find_one({"_id": oid, "owner": owner})
        if doc is None:
            raise TaskNotFound(str(oid))
        return doc

    async def _claim(
        self, oid: ObjectId, n: int, decision: Decision, author: str
    ) -> list[Document] | None:
        """Insert version ``n`` (with the events); its outbox entries, or None if taken."""
        entries = [outbox_entry(STREAM, event) for event in decision.events]
        record: Document = {
            "_id": version_key(oid, n),
            "task_id": str(oid),
            "owner": decision.state["owner"],
            "n": n,
            "action": decision.action,
            "changed": decision.changed,
            "author": author,
            "reason": decision.reason,
            "at": decision.state["updated_at"],
            "state": decision.state,
        }
        if entries:
            record[OUTBOX] = entries
        try:
            await self.versions.insert_one(record)
        except DuplicateKeyError:
            return None
        return entries

    async def _apply(self, oid: ObjectId, n: int, state: Document) -> None:
        """Bring the task document to logged version ``n``, never backwards."""
        if n == 1:
            with contextlib.suppress(DuplicateKeyError):  # the sweeper got there first
                await self.tasks.insert_one({"_id": oid, **state})
            return
        await self.tasks.replace_one({"_id": oid, "version": {"$lt": n}}, state)
        # Without atomic conditional updates a slower writer may just have put an older
        # version back over ours. Whoever writes last sees every newer slot (each was claimed
        # before its writer applied it), so re-applying the newest until none is newer
        # converges on the log's head.
        while (newer := await self._newest(oid, after=n)) is not None:
            n = newer["version"]
            await self.tasks.replace_one({"_id": oid, "version": {"$lt": n}}, newer)

    async def _newest(self, oid: ObjectId, *, after: int) -> Document | None:
        """The newest logged state after version ``after`` (with ``_id``), if any.

        Slots are claimed in order (a writer claims n+1 only after seeing n), so the log has
        no gaps: walk forward by ``_id`` until a slot is free. Lookups by ``_id`` are the one
        query shape FerretDB pushes down to SQLite, and usually the first one is free.
        """
        newest = None
        while True:
            record = await self.versions.find_one(
                {"_id": version_key(oid, after + 1)}, {"state": 1}
            )
            if record is None:
                return None if newest is None else {"_id": oid, **newest["state"]}
            newest, after = record, after + 1

    async def catch_up(self, task_id: str) -> None:
        """Apply the task's newest logged version if its document is behind (crash repair)."""
        oid = ObjectId(task_id)
        doc = await self.tasks.find_one({"_id": oid}, {"version": 1})
        newest = await self._newest(oid, after=doc["version"] if doc else 0)
        if newest is not None:
            state = {k: v for k, v in newest.items() if k != "_id"}
            await self._apply(oid, newest["version"], state)

    # --- reads ----------------------------------------------------------------------------

    async def get(self, owner: str, task_id: str) -> Document | None:
        oid = object_id(task_id)
        if oid is None:
            return None
        return await self.tasks.find_one({"_id": oid, "owner": owner})

    async def page(
        self, owner: str, query: TaskQuery, limit: int, cursor: str | None
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
        if cursor:
            value, after_id = decode_cursor(cursor, query.sort)
            after = object_id(after_id)
            if after is None:
                raise BadRequest("the cursor is malformed; pass next_cursor back unchanged")
            clauses.append(keyset_filter(field_name, descending, value, after))
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
        return await self.versions.find_one(
            {"_id": version_key(task_id, n), "owner": owner}, {OUTBOX: 0}
        )

    async def exists(self, owner: str, task_id: str) -> bool:
        """Whether the task is the owner's (deleted ones included: their history stays)."""
        oid = object_id(task_id)
        return (
            oid is not None
            and await self.tasks.find_one({"_id": oid, "owner": owner}, {"_id": 1}) is not None
        )

    # --- dependency edges -----------------------------------------------------------------

    async def owner_edges(self, owner: str) -> list[Edge]:
        """Every edge of the owner's graph, in one query."""
        cursor = self.edges.find({"owner": owner}, {"task_id": 1, "depends_on": 1, "type": 1})
        return [Edge(d["task_id"], d["depends_on"], d["type"]) async for d in cursor]

    async def add_edge(self, owner: str, edge: Edge, now: datetime) -> tuple[Document, bool]:
        """Insert the edge; (the stored edge, True) or (the edge already there, False)."""
        doc = {
            "_id": f"{edge.task}>{edge.depends_on}",
            "owner": owner,
            "task_id": edge.task,
            "depends_on": edge.depends_on,
            "type": edge.type,
            "created_at": now,
        }
        try:
            await self.edges.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.edges.find_one({"_id": doc["_id"], "owner": owner})
            if existing is not None:
                return existing, False
            raise
        return doc, True

    async def remove_edge(self, owner: str, task_id: str, depends_on: str) -> bool:
        result = await self.edges.delete_one({"_id": f"{task_id}>{depends_on}", "owner": owner})
        return result.deleted_count == 1

    async def edges_touching(self, owner: str, task_id: str) -> list[Document]:
        return (
            await self.edges.find(
                {"owner": owner, "$or": [{"task_id": task_id}, {"depends_on": task_id}]}
            )
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .to_list()
        )

    async def unfinished_blockers(self, owner: str, task_id: str) -> list[Document]:
        """The live, unfinished tasks that block ``task_id`` (two indexed queries)."""
        edges = await self.edges.find(
            {"owner": owner, "task_id": task_id, "type": {"$in": sorted(BLOCKING)}},
            {"depends_on": 1},
        ).to_list()
        ids = [oid for e in edges if (oid := object_id(e["depends_on"])) is not None]
        if not ids:
            return []
        return (
            await self.tasks.find(
                {"_id": {"$in": ids}, "owner": owner, "status": "open", "deleted_at": None},
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


class VersionSweeper:
    """Finishes writes a crash interrupted: applies logged versions the task document missed,
    then publishes their events (the kit's relay sweep, preceded by the repair)."""

    name = "task-version-sweeper"

    def __init__(self, store: TaskStore, *, interval: float = 2.0, min_age: float = 5.0) -> None:
        self.store = store
        self.interval = interval
        # Young entries belong to a request still finishing them inline.
        self.min_age = min_age

    async def sweep(self, min_age: float | None = None) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=self.min_age if min_age is None else min_age)
        published = 0
        versions = self.store.versions
        with untraced():  # polling is not a request: no root span every interval
            pending = await versions.find(
                {OUTBOX: {"$exists": True}}, {OUTBOX: 1, "task_id": 1}
            ).to_list()
        for record in pending:
            due = [e for e in record.get(OUTBOX, []) if _aware(e["at"]) <= cutoff]
            if not due:
                continue
            await self.store.catch_up(record["task_id"])
            if await self.store.relay.deliver(versions, record["_id"], due):
                published += len(due)
        return published

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # A failed pass is retried by the next; readiness reports the outage meanwhile.
            with contextlib.suppress(PyMongoError, RedisError, OSError):
                await self.sweep()
            await pause(stop, self.interval)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
