"""What task-service publishes on ``events.tasks``: the contracts of
``deepiri_kit.contracts.tasks`` in their envelopes (envelope ``user_id`` = the task's owner).

``task.completed``'s envelope id is derived from the completion id and the version that
recorded it: one id per real completion, the same id however often the outbox relays it or
the journal replays it.
"""

from __future__ import annotations

import uuid
from typing import Any

from deepiri_kit.contracts import tasks as contract
from deepiri_kit.events import Envelope, event_envelope

STREAM = contract.STREAM.name
SOURCE = "task-service"
# Event ids of completions are name-based UUIDs in this namespace.
COMPLETION_NAMESPACE = uuid.UUID("5b0f5a52-3d7e-4c59-9a51-7a1f0c2f6e31")

Task = dict[str, Any]


def _summary(task_id: str, task: Task) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "version": task["version"],
        "kind": task["kind"],
        "title": task["title"],
    }


def task_created(task_id: str, task: Task) -> Envelope:
    event = contract.TaskCreated(
        **_summary(task_id, task),
        difficulty=task["difficulty"],
        priority=task["priority"],
        due_at=task["due_at"],
        estimated_minutes=task["estimated_minutes"],
        skill_ids=list(task["skill_ids"]),
        tags=list(task["tags"]),
    )
    return event_envelope(event, source=SOURCE, user_id=task["owner"])


def task_updated(
    task_id: str, task: Task, changed: list[str], restored_from: int | None = None
) -> Envelope:
    event = contract.TaskUpdated(
        **_summary(task_id, task), changed=changed, restored_from=restored_from
    )
    return event_envelope(event, source=SOURCE, user_id=task["owner"])


def task_deleted(task_id: str, task: Task) -> Envelope:
    event = contract.TaskDeleted(**_summary(task_id, task))
    return event_envelope(event, source=SOURCE, user_id=task["owner"])


def task_completed(task: Task, event: contract.TaskCompleted) -> Envelope:
    """``event`` (``rules.completion_event``) for ``task`` as it is after the completion."""
    event_id = uuid.uuid5(COMPLETION_NAMESPACE, f"{event.completion_id}@v{task['version']}").hex
    return event_envelope(
        event,
        source=SOURCE,
        user_id=task["owner"],
        event_id=event_id,
        occurred_at=event.completed_at,
    )


def task_reopened(task_id: str, task: Task, completion_id: str) -> Envelope:
    event = contract.TaskReopened(**_summary(task_id, task), completion_id=completion_id)
    return event_envelope(event, source=SOURCE, user_id=task["owner"])
