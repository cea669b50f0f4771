"""What task-service publishes (stream ``events.tasks``)."""

from __future__ import annotations

from typing import Any

from deepiri_kit.events import Envelope, new_event

STREAM = "events.tasks"
SOURCE = "task-service"


def task_created(task: dict[str, Any]) -> Envelope:
    return new_event(
        "task.created",
        source=SOURCE,
        user_id=task["owner"],
        data={"task_id": str(task["_id"]), "title": task["title"], "kind": task["kind"]},
    )
