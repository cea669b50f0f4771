"""MongoDB persistence: the dependency edges of each owner's task graph (``task_edges``,
one document per edge, ``_id`` = ``<task>><depends_on>``, so an edge exists at most once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from deepiri_kit.data.mongo import ensure_indexes
from task_service.domain.graph import BLOCKING, Edge

Document = dict[str, Any]


class EdgeStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.edges = db["task_edges"]

    async def ensure_indexes(self) -> None:
        await ensure_indexes(
            self.edges,
            [
                IndexModel([("owner", 1), ("task_id", 1)], name="owner_task"),
                IndexModel([("owner", 1), ("depends_on", 1)], name="owner_depends_on"),
            ],
        )

    async def owner_edges(self, owner: str) -> list[Edge]:
        """Every edge of the owner's graph, in one query."""
        cursor = self.edges.find({"owner": owner}, {"task_id": 1, "depends_on": 1, "type": 1})
        return [Edge(d["task_id"], d["depends_on"], d["type"]) async for d in cursor]

    async def add(self, owner: str, edge: Edge, now: datetime) -> tuple[Document, bool]:
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

    async def remove(self, owner: str, task_id: str, depends_on: str) -> bool:
        result = await self.edges.delete_one({"_id": f"{task_id}>{depends_on}", "owner": owner})
        return result.deleted_count == 1

    async def erase_owner(self, owner: str) -> int:
        """Delete every edge of ``owner``'s graph (edges never cross owners)."""
        result = await self.edges.delete_many({"owner": owner})
        return result.deleted_count

    async def touching(self, owner: str, task_id: str) -> list[Document]:
        """The edges from and to ``task_id``, oldest first."""
        return (
            await self.edges.find(
                {"owner": owner, "$or": [{"task_id": task_id}, {"depends_on": task_id}]}
            )
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .to_list()
        )

    async def blocking(self, owner: str, task_id: str) -> list[str]:
        """The tasks ``task_id`` waits for (blocking edges: ``blocks``, ``subtask``)."""
        edges = await self.edges.find(
            {"owner": owner, "task_id": task_id, "type": {"$in": sorted(BLOCKING)}},
            {"depends_on": 1},
        ).to_list()
        return [e["depends_on"] for e in edges]
