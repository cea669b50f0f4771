"""HTTP handlers: parse, authorize, call the domain, shape the response."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from deepiri_kit import Principal, requires_scopes
from deepiri_kit.clock import utcnow
from deepiri_kit.models import LongText, Model, Out, ShortText
from deepiri_kit.problems import NotFound
from task_service import domain, events
from task_service.store import TaskStore

Store = NamedDependency[TaskStore]


class TaskCreate(Model):
    title: ShortText
    notes: LongText = ""
    kind: domain.Kind = "todo"
    difficulty: domain.Difficulty = "easy"


class TaskOut(Out):
    id: str
    title: str
    notes: str
    kind: str
    difficulty: str
    status: str
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, doc: dict[str, Any]) -> TaskOut:
        return cls(
            id=str(doc["_id"]),
            title=doc["title"],
            notes=doc.get("notes", ""),
            kind=doc["kind"],
            difficulty=doc["difficulty"],
            status=doc["status"],
            version=doc["version"],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )


class TaskController(Controller):
    path = "/"
    tags = ["tasks"]

    @post("/", guards=[requires_scopes("tasks:write")])
    async def create_task(
        self, data: JSONBody[TaskCreate], request: Request[Principal, Any, Any], store: Store
    ) -> TaskOut:
        """Create a task owned by the caller."""
        task = domain.new_task(request.user.subject, msgspec.structs.asdict(data), utcnow())
        return TaskOut.of(await store.insert(task, events.task_created))

    @get("/{task_id:str}", guards=[requires_scopes("tasks:read")])
    async def get_task(
        self, task_id: FromPath[str], request: Request[Principal, Any, Any], store: Store
    ) -> TaskOut:
        """One of the caller's tasks (404 for anyone else's, so ids do not leak)."""
        doc = await store.get(request.user.subject, task_id)
        if doc is None:
            raise NotFound(f"no task {task_id}")
        return TaskOut.of(doc)
