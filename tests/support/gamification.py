"""gamification-service in tests: task events as task-service publishes them, the test-time
settings (a consumer and relay that react within a fraction of a second), its handlers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from deepiri_kit.contracts.gamification import BadgeAwarded
from deepiri_kit.events import Envelope, new_event
from gamification_service.events.consume import Handlers
from gamification_service.service import Gamification


def badge_awarded(user: str, badge_id: str = "first-step") -> BadgeAwarded:
    """The badge a first completed task earns (what notification-service tells people of)."""
    return BadgeAwarded(
        user_id=user,
        badge_id=badge_id,
        name="First step",
        description="Your first completed task",
        category="milestones",
        rarity="common",
    )


def task_event(
    user_id: str = "alice",
    *,
    task_id: str | None = None,
    kind: str = "todo",
    difficulty: str = "medium",
    priority: str = "normal",
    on_time: bool | None = None,
    completed_at: datetime | None = None,
    streak: dict[str, int] | None = None,
    habit_direction: str | None = None,
    estimated_minutes: int | None = None,
    actual_minutes: int | None = None,
    event_id: str | None = None,
) -> Envelope:
    return new_event(
        "task.completed",
        source="task-service",
        user_id=user_id,
        event_id=event_id,
        data={
            "task_id": task_id or uuid.uuid4().hex[:24],
            "completion_id": uuid.uuid4().hex,
            "kind": kind,
            "difficulty": difficulty,
            "priority": priority,
            "estimated_minutes": estimated_minutes,
            "actual_minutes": actual_minutes,
            "due_at": None,
            "completed_at": (completed_at or datetime.now(UTC)).isoformat(),
            "on_time": on_time,
            "streak": streak,
            "habit_direction": habit_direction,
            "skill_ids": [],
            "tags": ["work"],
            "title": "Write the report",
        },
    )


def gamification_env(service_env: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"consumer_block_ms": 50, "relay_interval_seconds": 0.2, **service_env, **extra}


def handlers(game: Gamification) -> Handlers:
    """The consumer's handlers on ``game``'s use cases (what the app's consumer runs)."""
    return Handlers(game.reactions)
