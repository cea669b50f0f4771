"""What task-service publishes on ``events.tasks`` (envelope ``user_id`` = the task's owner).

``task.completed`` carries everything gamification-service needs. Its envelope id is derived
from the completion id and the version that recorded it: one id per real completion, the
same id however often the outbox relays it.
"""

from __future__ import annotations

import uuid
from typing import Any

from deepiri_kit.events import Envelope, new_event
from task_service.domain.tasks import Completion, completion_event_data

STREAM = "events.tasks"
SOURCE = "task-service"
# Event ids of completions are name-based UUIDs in this namespace.
COMPLETION_NAMESPACE = uuid.UUID("5b0f5a52-3d7e-4c59-9a51-7a1f0c2f6e31")


def _event(event_type: str, task: dict[str, Any], data: dict[str, Any], **kw: Any) -> Envelope:
    return new_event(event_type, source=SOURCE, user_id=task["owner"], data=data, **kw)


def _summary(task_id: str, task: dict[str, Any]) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "version": task["version"],
        "kind": task["kind"],
        "title": task["title"],
    }


def task_created(task_id: str, task: dict[str, Any]) -> Envelope:
    return _event(
        "task.created",
        task,
        {
            **_summary(task_id, task),
            "difficulty": task["difficulty"],
            "priority": task["priority"],
            "due_at": task["due_at"].isoformat() if task["due_at"] else None,
            "estimated_minutes": task["estimated_minutes"],
            "skill_ids": list(task["skill_ids"]),
            "tags": list(task["tags"]),
        },
    )


def task_updated(task_id: str, task: dict[str, Any], changed: list[str], **extra: Any) -> Envelope:
    return _event("task.updated", task, {**_summary(task_id, task), "changed": changed, **extra})


def task_deleted(task_id: str, task: dict[str, Any]) -> Envelope:
    return _event("task.deleted", task, _summary(task_id, task))


def task_completed(task_id: str, task: dict[str, Any], completion: Completion) -> Envelope:
    event_id = uuid.uuid5(
        COMPLETION_NAMESPACE, f"{completion.completion_id}@v{task['version']}"
    ).hex
    return _event(
        "task.completed",
        task,
        completion_event_data(task_id, task, completion),
        event_id=event_id,
        occurred_at=completion.completed_at,
    )


def task_reopened(task_id: str, task: dict[str, Any], completion_id: str) -> Envelope:
    return _event(
        "task.reopened", task, {**_summary(task_id, task), "completion_id": completion_id}
    )
