"""``events.tasks``: what task-service publishes. Envelope ``user_id`` = the task's owner.

``task.completed`` carries everything gamification-service needs to pay a completion; its
envelope id is derived from the completion and the version that recorded it (one id per
real completion, however often it is relayed or replayed).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from deepiri_kit.contracts.base import Event, Stream, UtcTime

__all__ = [
    "STREAM",
    "TASK_COMPLETED",
    "TASK_CREATED",
    "TASK_DELETED",
    "TASK_REOPENED",
    "TASK_UPDATED",
    "Difficulty",
    "Direction",
    "Kind",
    "Priority",
    "Streak",
    "TaskCompleted",
    "TaskCreated",
    "TaskDeleted",
    "TaskReopened",
    "TaskUpdated",
]

TASK_CREATED = "task.created"
TASK_UPDATED = "task.updated"
TASK_DELETED = "task.deleted"
TASK_COMPLETED = "task.completed"
TASK_REOPENED = "task.reopened"

Kind = Literal["todo", "daily", "habit"]
Difficulty = Literal["trivial", "easy", "medium", "hard"]
Priority = Literal["low", "normal", "high", "urgent"]
Direction = Literal["up", "down"]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Version = Annotated[int, msgspec.Meta(ge=1)]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class TaskCreated(Event, frozen=True, kw_only=True):
    TYPE = TASK_CREATED

    task_id: Id
    version: Version
    kind: Kind
    title: str
    difficulty: Difficulty
    priority: Priority
    due_at: UtcTime | None = None
    estimated_minutes: Minutes | None = None
    skill_ids: list[str] = []
    tags: list[str] = []


class TaskUpdated(Event, frozen=True, kw_only=True):
    """Fields changed (``changed`` names them); ``restored_from`` when a version was restored."""

    TYPE = TASK_UPDATED

    task_id: Id
    version: Version
    kind: Kind
    title: str
    changed: list[str]
    restored_from: Version | None = None


class TaskDeleted(Event, frozen=True, kw_only=True):
    TYPE = TASK_DELETED

    task_id: Id
    version: Version
    kind: Kind
    title: str


class Streak(msgspec.Struct, frozen=True, kw_only=True):
    current: Count = 0
    best: Count = 0


class TaskCompleted(Event, frozen=True, kw_only=True):
    """A real completion (a todo done, a daily's period done, a habit tapped ``up``/``down``);
    repeats are not announced."""

    TYPE = TASK_COMPLETED

    task_id: Id
    completion_id: Id | None = None
    kind: Kind
    difficulty: Difficulty
    priority: Priority = "normal"
    estimated_minutes: Minutes | None = None
    actual_minutes: Minutes | None = None
    due_at: UtcTime | None = None
    completed_at: UtcTime
    on_time: bool | None = None
    streak: Streak | None = None
    habit_direction: Direction | None = None
    skill_ids: list[str] = []
    tags: list[str] = []
    title: str | None = None


class TaskReopened(Event, frozen=True, kw_only=True):
    """A completion undone (``completion_id`` names it)."""

    TYPE = TASK_REOPENED

    task_id: Id
    version: Version
    kind: Kind
    title: str
    completion_id: Id


STREAM = Stream("events.tasks", TaskCreated, TaskUpdated, TaskDeleted, TaskCompleted, TaskReopened)
