"""Task rules: what a task is, how it changes, and what completing it means.

A task is a plain dict (the stored snapshot). Every function here takes the current snapshot
and returns the next one; nothing here does I/O, so the same rules run in the API, in
restores and in tests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from deepiri_kit.contracts.tasks import Direction, Streak, TaskCompleted
from deepiri_kit.errors import Conflict, Invalid, NotFound, StalePrecondition
from task_service.domain import schedules
from task_service.domain.diff import changed_fields

Status = Literal["open", "completed"]

MAX_CHECKLIST_ITEMS = 100
PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
# Sorting by due date puts tasks without one last: they sort as if due at the end of time.
NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=UTC)

# What the owner may set (through create, PATCH or restore).
USER_FIELDS: tuple[str, ...] = (
    "title",
    "notes",
    "difficulty",
    "priority",
    "tags",
    "checklist",
    "due_at",
    "schedule",
    "timezone",
    "estimated_minutes",
    "skill_ids",
)
# Everything a version snapshot records and a diff compares.
TRACKED_FIELDS: tuple[str, ...] = (
    *USER_FIELDS,
    "kind",
    "status",
    "completion",
    "streak",
    "habit",
    "deleted_at",
)


def etag(version: int) -> str:
    """The entity tag of a task version (what ``ETag`` says and ``If-Match`` names)."""
    return f'"v{version}"'


def version_named(if_match: str | None) -> int | None:
    """The version an If-Match header names; None for no header or ``*`` (any version).

    An unparseable header can match no version, so it fails the precondition as a stale one
    does (RFC 9110 §13.1.1)."""
    if if_match is None or if_match.strip() == "*":
        return None
    for candidate in if_match.split(","):
        tag = candidate.strip()
        if tag.startswith('"v') and tag.endswith('"') and tag[2:-1].isdigit():
            return int(tag[2:-1])
    raise StalePrecondition(f"If-Match {if_match[:80]!r} names no version of this task")


class RuleViolation(Invalid):
    """The request is well-formed but breaks a task rule (422)."""


class Refused(Conflict):
    """The task's current state does not allow this now (409)."""


class Missing(NotFound):
    """A part of the task the request names does not exist (404)."""


@dataclass(frozen=True)
class Completion:
    """One real completion, as ``task.completed`` announces it."""

    completion_id: str
    completed_at: datetime
    due_at: datetime | None
    on_time: bool | None
    actual_minutes: int | None
    streak: dict[str, int] | None
    direction: Direction | None


def new_task(owner: str, fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A new task: the owner's fields plus everything only the server may set."""
    task: dict[str, Any] = {
        "title": fields["title"],
        "notes": fields.get("notes", ""),
        "kind": fields.get("kind", "todo"),
        "difficulty": fields.get("difficulty", "easy"),
        "priority": fields.get("priority", "normal"),
        "tags": dedupe(fields.get("tags") or []),
        "checklist": [new_item(item) for item in fields.get("checklist") or []],
        "due_at": fields.get("due_at"),
        "schedule": fields.get("schedule"),
        "timezone": fields.get("timezone") or "UTC",
        "estimated_minutes": fields.get("estimated_minutes"),
        "skill_ids": dedupe(fields.get("skill_ids") or []),
        "owner": owner,
        "status": "open",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "completion": None,
        "streak": None,
        "habit": None,
    }
    if task["kind"] == "daily" and task["schedule"] is None:
        task["schedule"] = {"type": "weekly", "days": list(schedules.WEEKDAYS)}
    if task["kind"] == "daily":
        task["streak"] = {"current": 0, "best": 0, "last_period": None}
    if task["kind"] == "habit":
        task["habit"] = {"day": None, "up": 0, "down": 0, "best_up": 0, "best_down": 0}
    return with_sort_keys(validated(task))


def dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def new_item(fields: dict[str, Any], item_id: str | None = None) -> dict[str, Any]:
    return {
        "id": item_id or uuid.uuid4().hex[:12],
        "text": fields["text"],
        "done": bool(fields.get("done", False)),
    }


def validated(task: dict[str, Any]) -> dict[str, Any]:
    """The task if its fields fit its kind; RuleViolation naming the first problem otherwise."""
    try:
        schedules.zone(task["timezone"])
        if task["schedule"] is not None:
            if task["kind"] != "daily":
                raise RuleViolation("only dailies have a schedule", field="schedule")
            task["schedule"] = schedules.normalized(task["schedule"])
    except schedules.ScheduleError as exc:
        raise RuleViolation(str(exc), field="schedule") from None
    if task["kind"] == "habit" and task["due_at"] is not None:
        raise RuleViolation("habits have no due date", field="due_at")
    if task["kind"] == "daily" and task["due_at"] is not None:
        raise RuleViolation("a daily is due by its schedule, not a due date", field="due_at")
    if task["kind"] == "daily" and task["schedule"] is None:
        raise RuleViolation("a daily needs a schedule", field="schedule")
    ids = [item["id"] for item in task["checklist"]]
    if len(ids) != len(set(ids)):
        raise RuleViolation("checklist item ids must be unique", field="checklist")
    return task


def with_sort_keys(task: dict[str, Any]) -> dict[str, Any]:
    """Denormalised keys the list endpoint sorts on (an index can serve them directly)."""
    task["due_key"] = task["due_at"] or NO_DUE_DATE
    task["priority_rank"] = PRIORITY_RANK[task["priority"]]
    return task


def stamped(task: dict[str, Any], version: int, now: datetime) -> dict[str, Any]:
    task["version"] = version
    task["updated_at"] = now
    return with_sort_keys(task)


def patched(
    task: dict[str, Any], changes: dict[str, Any], version: int, now: datetime
) -> dict[str, Any] | None:
    """The task with the owner's ``changes`` applied; None when they change nothing."""
    unknown = set(changes) - set(USER_FIELDS)
    if unknown:
        raise RuleViolation(f"not changeable: {sorted(unknown)}")
    updated = dict(task)
    for field, value in changes.items():
        if field in ("tags", "skill_ids"):
            value = dedupe(value)
        elif field == "checklist":
            value = merge_checklist(task["checklist"], value)
        elif field == "timezone":
            value = value or "UTC"
        updated[field] = value
    validated(updated)
    if not changed_fields(task, updated, USER_FIELDS):
        return None
    return stamped(updated, version, now)


def merge_checklist(
    current: list[dict[str, Any]], items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A whole new checklist: items naming an existing id keep it, the rest get new ids."""
    known = {item["id"] for item in current}
    merged = []
    for item in items:
        item_id = item.get("id")
        if item_id is not None and item_id not in known:
            raise RuleViolation(f"no checklist item {item_id}", field="checklist")
        merged.append(new_item(item, item_id))
    return merged


def with_checklist(
    task: dict[str, Any], checklist: list[dict[str, Any]], version: int, now: datetime
) -> dict[str, Any] | None:
    """The task with a new checklist; None when it is the same checklist."""
    if checklist == task["checklist"]:
        return None
    return stamped({**task, "checklist": checklist}, version, now)


def item_added(checklist: list[dict[str, Any]], fields: dict[str, Any]) -> list[dict[str, Any]]:
    if len(checklist) >= MAX_CHECKLIST_ITEMS:
        raise RuleViolation(
            f"a checklist holds at most {MAX_CHECKLIST_ITEMS} items", field="checklist"
        )
    return [*checklist, new_item(fields)]


def item_changed(
    checklist: list[dict[str, Any]], item_id: str, changes: dict[str, Any]
) -> list[dict[str, Any]]:
    """The checklist with item ``item_id``'s text or done flag changed (checked/unchecked)."""
    _index_of(checklist, item_id)
    return [
        {**item, **{k: v for k, v in changes.items() if k in ("text", "done")}}
        if item["id"] == item_id
        else item
        for item in checklist
    ]


def item_removed(checklist: list[dict[str, Any]], item_id: str) -> list[dict[str, Any]]:
    _index_of(checklist, item_id)
    return [item for item in checklist if item["id"] != item_id]


def _index_of(checklist: list[dict[str, Any]], item_id: str) -> int:
    for index, item in enumerate(checklist):
        if item["id"] == item_id:
            return index
    raise Missing(f"no checklist item {item_id}")


def soft_deleted(task: dict[str, Any], version: int, now: datetime) -> dict[str, Any]:
    return stamped({**task, "deleted_at": now}, version, now)


def restored(
    task: dict[str, Any], snapshot: dict[str, Any], version: int, now: datetime
) -> dict[str, Any]:
    """Version ``snapshot``'s owner fields brought back as a new version, undeleting the task.

    Status and completion data are left as they are: they change only through complete and
    reopen, so every completion stays announced exactly once.
    """
    updated = {**task, **{f: snapshot.get(f, task.get(f)) for f in USER_FIELDS}}
    updated["deleted_at"] = None
    return stamped(validated(updated), version, now)


# --- completion -----------------------------------------------------------------------


def complete(
    task: dict[str, Any],
    task_id: str,
    *,
    version: int,
    now: datetime,
    actual_minutes: int | None = None,
    direction: Direction = "up",
) -> tuple[dict[str, Any], Completion] | None:
    """The task after a completion and what to announce; None if it is already complete
    (a repeated request), so nothing is announced twice."""
    kind = task["kind"]
    if kind == "todo":
        return _complete_todo(task, task_id, version, now, actual_minutes)
    if kind == "daily":
        return _complete_daily(task, task_id, version, now, actual_minutes)
    return _tap_habit(task, task_id, version, now, actual_minutes, direction)


def _complete_todo(
    task: dict[str, Any], task_id: str, version: int, now: datetime, actual: int | None
) -> tuple[dict[str, Any], Completion] | None:
    if task["status"] == "completed":
        return None
    due = task["due_at"]
    completion = Completion(
        completion_id=f"{task_id}:v{version}",
        completed_at=now,
        due_at=due,
        on_time=None if due is None else now <= due,
        actual_minutes=actual,
        streak=None,
        direction=None,
    )
    updated = {**task, "status": "completed", "completion": _record(completion)}
    return stamped(updated, version, now), completion


def current_period(task: dict[str, Any], now: datetime) -> str | None:
    """A daily's period containing ``now`` in its time zone (None before its schedule starts)."""
    schedule = schedules.parse(task["schedule"])
    period = schedules.period_start(schedule, schedules.local_date(now, task["timezone"]))
    return period.isoformat() if period else None


def _complete_daily(
    task: dict[str, Any], task_id: str, version: int, now: datetime, actual: int | None
) -> tuple[dict[str, Any], Completion] | None:
    schedule = schedules.parse(task["schedule"])
    today = schedules.local_date(now, task["timezone"])
    period = schedules.period_start(schedule, today)
    if period is None:
        start = task["schedule"].get("start_date")
        raise Refused(f"this daily's schedule starts on {start}", starts_on=start)
    streak = task.get("streak")
    if streak and streak.get("last_period") == period.isoformat():
        return None
    paid = last_paid(task)
    if not schedules.payable(period, today, paid):
        assert paid is not None  # payable() allows anything before the first payment
        raise Refused(
            f"this daily was already completed for the period of {paid.period.isoformat()} "
            f"(on {paid.on.isoformat()}); in {task['timezone']} today is {today.isoformat()}, "
            "so there is no new period to complete yet",
            paid_period=paid.period.isoformat(),
            current_period=period.isoformat(),
        )
    advanced = schedules.advance_streak(streak, schedule, period)
    # Remember what the streak was, so reopening this period can put it back exactly.
    previous = {k: (streak or {}).get(k) for k in ("current", "best", "last_period")}
    advanced.update(paid_period=period.isoformat(), paid_on=today.isoformat())
    due = schedules.day_end(period, task["timezone"]).astimezone(UTC)
    completion = Completion(
        completion_id=f"{task_id}:{period.isoformat()}",
        completed_at=now,
        due_at=due,
        on_time=now <= due,
        actual_minutes=actual,
        streak={"current": advanced["current"], "best": advanced["best"]},
        direction=None,
    )
    updated = {
        **task,
        "streak": {**advanced, "previous": previous},
        "completion": {**_record(completion), "period": period.isoformat()},
    }
    return stamped(updated, version, now), completion


def last_paid(task: dict[str, Any]) -> schedules.Paid | None:
    """The daily's last paid period and the local date it was paid on (for dailies stored
    before these were recorded: the newest completed period, paid on its own first day)."""
    streak = task.get("streak") or {}
    period = streak.get("paid_period") or streak.get("last_period")
    if not period:
        return None
    return schedules.Paid(
        date.fromisoformat(period), date.fromisoformat(streak.get("paid_on") or period)
    )


def _tap_habit(
    task: dict[str, Any],
    task_id: str,
    version: int,
    now: datetime,
    actual: int | None,
    direction: Direction,
) -> tuple[dict[str, Any], Completion]:
    today = schedules.local_date(now, task["timezone"]).isoformat()
    tally = dict(task.get("habit") or {})
    if tally.get("day") != today:
        tally.update(day=today, up=0, down=0)
    tally[direction] = int(tally.get(direction, 0)) + 1
    best_key = f"best_{direction}"
    tally[best_key] = max(int(tally.get(best_key, 0)), tally[direction])
    completion = Completion(
        completion_id=f"{task_id}:{uuid.uuid4().hex}",
        completed_at=now,
        due_at=None,
        on_time=None,
        actual_minutes=actual,
        streak={"current": tally[direction], "best": tally[best_key]},
        direction=direction,
    )
    updated = {
        **task,
        "habit": tally,
        "completion": {**_record(completion), "direction": direction},
    }
    return stamped(updated, version, now), completion


def _record(completion: Completion) -> dict[str, Any]:
    return {
        "completion_id": completion.completion_id,
        "completed_at": completion.completed_at,
        "actual_minutes": completion.actual_minutes,
        "on_time": completion.on_time,
    }


def reopen(
    task: dict[str, Any], *, version: int, now: datetime
) -> tuple[dict[str, Any], str] | None:
    """The task with its last completion undone and that completion's id; None when there is
    nothing to undo (already open, or a daily whose current period is not completed)."""
    if task["kind"] == "habit":
        raise Refused("a habit records taps; tap the other direction instead of reopening")
    completion = task.get("completion")
    if task["kind"] == "todo":
        if task["status"] != "completed" or completion is None:
            return None
        updated = {**task, "status": "open", "completion": None}
        return stamped(updated, version, now), completion["completion_id"]
    if completion is None or completion.get("period") != current_period(task, now):
        return None  # only the period still running can be reopened
    previous = task["streak"].get("previous") or {}
    paid = last_paid(task)
    streak = {
        "current": previous.get("current") or 0,
        "best": previous.get("best") or 0,
        "last_period": previous.get("last_period"),
    }
    if paid is not None:  # the period stays paid: reopening undoes the completion, not the reward
        streak.update(paid_period=paid.period.isoformat(), paid_on=paid.on.isoformat())
    updated = {**task, "streak": streak, "completion": None}
    return stamped(updated, version, now), completion["completion_id"]


def daily_view(task: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What a daily looks like right now: its period, whether that is done, the live streak."""
    schedule = schedules.parse(task["schedule"])
    today = schedules.local_date(now, task["timezone"])
    period = schedules.period_start(schedule, today)
    streak = task.get("streak") or {}
    done = period is not None and (
        streak.get("last_period") == period.isoformat()
        or not schedules.payable(period, today, last_paid(task))
    )
    return {
        "current_period": period.isoformat() if period else None,
        "done_for_period": done,
        "next_period": schedules.next_period(schedule, period or today).isoformat()
        if period
        else task["schedule"].get("start_date"),
        "streak": {
            "current": schedules.live_streak(streak, schedule, today),
            "best": int(streak.get("best") or 0),
            "last_period": streak.get("last_period"),
        },
    }


def completion_event(task_id: str, task: dict[str, Any], completion: Completion) -> TaskCompleted:
    """The ``task.completed`` event (the contract gamification-service consumes)."""
    return TaskCompleted(
        task_id=task_id,
        completion_id=completion.completion_id,
        kind=task["kind"],
        difficulty=task["difficulty"],
        priority=task["priority"],
        estimated_minutes=task["estimated_minutes"],
        actual_minutes=completion.actual_minutes,
        due_at=None if completion.due_at is None else _utc(completion.due_at),
        completed_at=_utc(completion.completed_at),
        on_time=completion.on_time,
        streak=None if completion.streak is None else Streak(**completion.streak),
        habit_direction=completion.direction,
        skill_ids=list(task["skill_ids"]),
        tags=list(task["tags"]),
        title=task["title"],
    )


def _utc(value: datetime) -> datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC)


def snapshot(task: dict[str, Any]) -> dict[str, Any]:
    """What a version records: every tracked field plus the version stamp."""
    return {
        **{f: task.get(f) for f in TRACKED_FIELDS},
        "version": task["version"],
        "updated_at": task["updated_at"],
    }
