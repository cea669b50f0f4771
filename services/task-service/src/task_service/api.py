"""HTTP handlers: parse, authorize, call the domain, shape the response."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post

from deepiri_kit import Principal, requires_scopes
from deepiri_kit.models import LongText, Model, Out, ShortText
from deepiri_kit.problems import NotFound
from task_service import domain, events
from task_service.store import TaskStore


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
        self, data: TaskCreate, request: Request[Principal, Any, Any], store: TaskStore
    ) -> TaskOut:
        """Create a task owned by the caller."""
        fields = msgspec.structs.asdict(data)
        task = domain.new_task(request.user.subject, fields, datetime.now(UTC))
        saved = await store.insert(task, events.task_created)
        return TaskOut.of(saved)

    @get("/{task_id:str}", guards=[requires_scopes("tasks:read")])
    async def get_task(
        self,
        task_id: Annotated[str, msgspec.Meta(max_length=64)],
        request: Request[Principal, Any, Any],
        store: TaskStore,
    ) -> TaskOut:
        """One of the caller's tasks (404 for anyone else's, so ids do not leak)."""
        doc = await store.get(request.user.subject, task_id)
        if doc is None:
            raise NotFound(f"no task {task_id}")
        return TaskOut.of(doc)
