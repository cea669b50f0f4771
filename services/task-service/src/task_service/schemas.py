"""Request and response bodies, and their shaping from tasks and use-case results.
Requests are strict (unknown fields → 400, which also stops
``$``-operator injection and mass assignment: a body can only name declared fields, and no
body declares id, owner, status, version, times or completion data)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from deepiri_kit import LOWER_CASE, LongText, Model, ObjectIdStr, Out, ShortText, Tag
from task_service.domain import Difficulty, Direction, Kind, Priority
from task_service.domain import tasks as rules
from task_service.domain.graph import EdgeType, Overview
from task_service.domain.schedules import MAX_EVERY_DAYS, Weekday
from task_service.service import Dependencies, Linked, Seen

MAX_TAGS = 20
MAX_CHECKLIST_ITEMS = 100
MAX_SKILLS = 20
MAX_ESTIMATE_MINUTES = 7 * 24 * 60

AwareDatetime = Annotated[datetime, Meta(tz=True)]
TimeZoneName = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")]
SkillId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-:.]+$")]
ITEM_ID_PATTERN = r"^[0-9a-fA-F]{12}$"
ItemId = Annotated[str, Meta(pattern=ITEM_ID_PATTERN), LOWER_CASE]
Minutes = Annotated[int, Meta(ge=1, le=MAX_ESTIMATE_MINUTES)]
ActualMinutes = Annotated[int, Meta(ge=0, le=MAX_ESTIMATE_MINUTES)]
Reason = Annotated[str, Meta(max_length=500)]
Tags = Annotated[list[Tag], Meta(max_length=MAX_TAGS)]
SkillIds = Annotated[list[SkillId], Meta(max_length=MAX_SKILLS)]


class WeeklySchedule(Model, tag="weekly", tag_field="type"):
    """Due on these days of the week (in the task's time zone)."""

    days: Annotated[list[Weekday], Meta(min_length=1, max_length=7)]


class EveryNDaysSchedule(Model, tag="every", tag_field="type"):
    """Due every ``every_days`` days, counting from ``start_date``."""

    every_days: Annotated[int, Meta(ge=1, le=MAX_EVERY_DAYS)]
    start_date: date


Schedule = WeeklySchedule | EveryNDaysSchedule


class ChecklistItemIn(Model):
    text: ShortText
    done: bool = False


class ChecklistItemReplace(Model):
    """An item of a whole new checklist: name an existing item's id to keep it."""

    text: ShortText
    id: ItemId | None = None
    done: bool = False


class ChecklistItemPatch(Model):
    text: ShortText | UnsetType = UNSET
    done: bool | UnsetType = UNSET


Checklist = Annotated[list[ChecklistItemIn], Meta(max_length=MAX_CHECKLIST_ITEMS)]


class TaskCreate(Model):
    title: ShortText
    notes: LongText = ""
    kind: Kind = "todo"
    difficulty: Difficulty = "easy"
    priority: Priority = "normal"
    tags: Tags = []
    checklist: Checklist = []
    due_at: AwareDatetime | None = None
    schedule: Schedule | None = None
    timezone: TimeZoneName = "UTC"
    estimated_minutes: Minutes | None = None
    skill_ids: SkillIds = []


class TaskPatch(Model):
    """Only the fields present change; ``null`` clears a nullable field. The kind is fixed
    at creation (a todo's completion and a daily's streak do not translate)."""

    title: ShortText | UnsetType = UNSET
    notes: LongText | UnsetType = UNSET
    difficulty: Difficulty | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET
    checklist: (
        Annotated[list[ChecklistItemReplace], Meta(max_length=MAX_CHECKLIST_ITEMS)] | UnsetType
    ) = UNSET
    due_at: AwareDatetime | UnsetType | None = UNSET
    schedule: Schedule | UnsetType | None = UNSET
    timezone: TimeZoneName | UnsetType = UNSET
    estimated_minutes: Minutes | UnsetType | None = UNSET
    skill_ids: SkillIds | UnsetType = UNSET
    reason: Reason | UnsetType = UNSET


class CompleteIn(Model):
    actual_minutes: ActualMinutes | None = None
    direction: Direction = "up"  # habits: a + or a - tap; ignored for todos and dailies


class RestoreIn(Model):
    reason: Reason | None = None


class DependencyIn(Model):
    depends_on: ObjectIdStr
    type: EdgeType = "blocks"


def to_fields(body: msgspec.Struct) -> dict[str, Any]:
    """A body as plain data for the domain (unset fields left out, times kept as datetimes)."""
    fields: dict[str, Any] = msgspec.to_builtins(body, builtin_types=(datetime, date))
    return fields


# --- responses --------------------------------------------------------------------------


class ChecklistItemOut(Out):
    id: str
    text: str
    done: bool


class ScheduleOut(Out):
    type: Literal["weekly", "every"]
    days: list[str] | None = None
    every_days: int | None = None
    start_date: str | None = None


class CompletionOut(Out):
    completion_id: str
    completed_at: datetime
    actual_minutes: int | None = None
    on_time: bool | None = None
    period: str | None = None
    direction: str | None = None


class StreakOut(Out):
    current: int
    best: int
    last_period: str | None = None


class HabitOut(Out):
    day: str | None = None
    up: int = 0
    down: int = 0
    best_up: int = 0
    best_down: int = 0


class TaskOut(Out):
    id: str
    title: str
    notes: str
    kind: str
    difficulty: str
    priority: str
    tags: list[str]
    checklist: list[ChecklistItemOut]
    due_at: datetime | None
    schedule: ScheduleOut | None
    timezone: str
    estimated_minutes: int | None
    skill_ids: list[str]
    status: str
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    completion: CompletionOut | None = None
    streak: StreakOut | None = None
    habit: HabitOut | None = None
    # Dailies, as of the request: the period running now and whether it is done.
    current_period: str | None = None
    done_for_period: bool | None = None
    next_period: str | None = None


class VersionSummary(Out):
    n: int
    action: str
    changed: list[str]
    author: str
    at: datetime
    reason: str | None = None


class VersionOut(Out):
    n: int
    action: str
    changed: list[str]
    author: str
    at: datetime
    snapshot: dict[str, Any]
    reason: str | None = None


class VersionPage(Out):
    items: list[VersionSummary]
    next_after: int | None = None


class ChecklistDiff(Out):
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    reordered: bool


class DiffOut(Out):
    task_id: str
    from_version: int
    to_version: int
    added: dict[str, Any]
    removed: dict[str, Any]
    changed: dict[str, Any]
    checklist: ChecklistDiff


class EdgeOut(Out):
    task_id: str
    depends_on: str
    type: str
    created_at: datetime


class LinkedTask(Out):
    task_id: str
    type: str
    title: str | None
    status: str | None
    created_at: datetime


class DependenciesOut(Out):
    task_id: str
    depends_on: list[LinkedTask]  # tasks this one depends on
    dependents: list[LinkedTask]  # tasks that depend on this one


class CriticalPath(Out):
    task_ids: list[str]
    total_minutes: int


class GraphOut(Out):
    nodes: int
    edges: int
    order: list[str]
    ready: list[str]
    critical_path: CriticalPath
    cycles: list[str]  # tasks left out of the order because they sit on a cycle (never expected)


# --- shaping ----------------------------------------------------------------------------

Document = dict[str, Any]


def task_out(doc: Document, now: datetime) -> TaskOut:
    """A task as of ``now`` (a daily's period and whether it is done depend on it)."""
    data = {**doc, "id": str(doc["_id"])}
    if doc["kind"] == "daily":
        data.update(rules.daily_view(doc, now))
    return msgspec.convert(data, TaskOut)


def seen_out(seen: Seen) -> TaskOut:
    return task_out(seen.task, seen.now)


def version_summary(record: Document) -> VersionSummary:
    return msgspec.convert(record, VersionSummary)


def version_out(record: Document) -> VersionOut:
    return VersionOut(
        n=record["n"],
        action=record["action"],
        changed=record["changed"],
        author=record["author"],
        at=record["at"],
        reason=record.get("reason"),
        snapshot=rules.snapshot(record["state"]),
    )


def diff_out(result: Document, task_id: str, from_version: int, to_version: int) -> DiffOut:
    return msgspec.convert(
        {**result, "task_id": task_id, "from_version": from_version, "to_version": to_version},
        DiffOut,
    )


def graph_out(view: Overview) -> GraphOut:
    return GraphOut(
        nodes=view.nodes,
        edges=view.edges,
        order=view.order,
        ready=view.ready,
        critical_path=CriticalPath(
            task_ids=view.critical_path, total_minutes=view.critical_minutes
        ),
        cycles=view.cycles,
    )


def edge_out(doc: Document) -> EdgeOut:
    return EdgeOut(
        task_id=doc["task_id"],
        depends_on=doc["depends_on"],
        type=doc["type"],
        created_at=doc["created_at"],
    )


def linked_out(linked: Linked) -> LinkedTask:
    return LinkedTask(
        task_id=linked.task_id,
        type=linked.type,
        title=linked.title,
        status=linked.status,
        created_at=linked.created_at,
    )


def dependencies_out(task_id: str, found: Dependencies) -> DependenciesOut:
    return DependenciesOut(
        task_id=task_id,
        depends_on=[linked_out(x) for x in found.depends_on],
        dependents=[linked_out(x) for x in found.dependents],
    )
