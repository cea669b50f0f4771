"""Task rules: creation, patches, checklists, completion, reopen, restore, diff (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from task_service.domain import tasks as rules
from task_service.domain.diff import changed_fields, diff
from task_service.events.publish import task_completed

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
TID = "65f000000000000000000001"


def todo(**fields: Any) -> dict[str, Any]:
    return rules.new_task("alice", {"title": "Write", **fields}, NOW)


def daily(**fields: Any) -> dict[str, Any]:
    return rules.new_task("alice", {"title": "Stretch", "kind": "daily", **fields}, NOW)


def test_new_task_has_server_fields_and_defaults() -> None:
    task = todo(tags=["a", "b", "a"], checklist=[{"text": "one"}])
    assert task["owner"] == "alice"
    assert task["status"] == "open"
    assert task["version"] == 1
    assert task["created_at"] == task["updated_at"] == NOW
    assert task["tags"] == ["a", "b"]
    assert task["checklist"][0]["text"] == "one"
    assert len(task["checklist"][0]["id"]) == 12
    assert task["due_key"] == rules.NO_DUE_DATE
    assert task["priority_rank"] == 1


def test_daily_defaults_to_every_day_and_habit_gets_a_tally() -> None:
    assert daily()["schedule"] == {"type": "weekly", "days": list(rules.schedules.WEEKDAYS)}
    assert daily()["streak"] == {"current": 0, "best": 0, "last_period": None}
    habit = rules.new_task("alice", {"title": "Water", "kind": "habit"}, NOW)
    assert habit["habit"]["up"] == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"schedule": {"type": "weekly", "days": ["mon"]}}, "schedule"),  # a todo
        ({"kind": "habit", "due_at": NOW}, "due_at"),
        ({"kind": "daily", "due_at": NOW}, "due_at"),
        ({"kind": "daily", "schedule": {"type": "weekly", "days": []}}, "schedule"),
        ({"timezone": "Nowhere/Land"}, "schedule"),
    ],
)
def test_fields_that_do_not_fit_the_kind_are_refused(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(rules.RuleViolation) as caught:
        rules.new_task("alice", {"title": "x", **fields}, NOW)
    assert caught.value.extra["field"] == field


def test_patch_changes_only_given_fields_and_detects_no_op() -> None:
    task = todo(priority="low")
    later = NOW + timedelta(minutes=5)
    after = rules.patched(task, {"title": "Write more", "priority": "urgent"}, 2, later)
    assert after is not None
    assert (after["title"], after["priority"], after["priority_rank"]) == (
        "Write more",
        "urgent",
        3,
    )
    assert (after["version"], after["updated_at"]) == (2, later)
    assert task["title"] == "Write"  # the input is not mutated
    assert rules.patched(after, {"title": "Write more"}, 3, later) is None
    with pytest.raises(rules.RuleViolation):
        rules.patched(task, {"owner": "mallory"}, 2, later)


def test_patching_a_due_date_moves_the_sort_key() -> None:
    due = NOW + timedelta(days=1)
    after = rules.patched(todo(), {"due_at": due}, 2, NOW)
    assert after is not None
    assert after["due_key"] == due
    cleared = rules.patched(after, {"due_at": None}, 3, NOW)
    assert cleared is not None
    assert cleared["due_key"] == rules.NO_DUE_DATE


def test_checklist_replace_keeps_named_ids_and_refuses_unknown_ones() -> None:
    task = todo(checklist=[{"text": "a"}, {"text": "b"}])
    a, b = task["checklist"]
    after = rules.patched(
        task, {"checklist": [{"id": b["id"], "text": "B", "done": True}, {"text": "c"}]}, 2, NOW
    )
    assert after is not None
    assert after["checklist"][0] == {"id": b["id"], "text": "B", "done": True}
    assert after["checklist"][1]["id"] not in (a["id"], b["id"])
    with pytest.raises(rules.RuleViolation):
        rules.patched(task, {"checklist": [{"id": "0123456789ab", "text": "x"}]}, 2, NOW)


def test_checklist_item_operations() -> None:
    items = rules.item_added([], {"text": "a"})
    item_id = items[0]["id"]
    assert rules.item_changed(items, item_id, {"done": True})[0]["done"] is True
    assert rules.item_changed(items, item_id, {"text": "A"})[0]["text"] == "A"
    assert rules.item_removed(items, item_id) == []
    with pytest.raises(rules.Missing):
        rules.item_removed(items, "ffffffffffff")
    full = [
        {"id": f"{i:012x}", "text": "t", "done": False} for i in range(rules.MAX_CHECKLIST_ITEMS)
    ]
    with pytest.raises(rules.RuleViolation):
        rules.item_added(full, {"text": "one too many"})
    task = todo()
    assert rules.with_checklist(task, [], 2, NOW) is None


def test_completing_a_todo_once_then_repeats_change_nothing() -> None:
    due = NOW + timedelta(hours=1)
    task = todo(due_at=due, estimated_minutes=30)
    result = rules.complete(task, TID, version=2, now=NOW, actual_minutes=25)
    assert result is not None
    after, completion = result
    assert after["status"] == "completed"
    assert completion.completion_id == f"{TID}:v2"
    assert completion.on_time is True
    assert after["completion"]["actual_minutes"] == 25
    assert rules.complete(after, TID, version=3, now=NOW) is None


def test_late_and_undated_todos() -> None:
    late = rules.complete(todo(due_at=NOW - timedelta(seconds=1)), TID, version=2, now=NOW)
    assert late is not None
    assert late[1].on_time is False
    undated = rules.complete(todo(), TID, version=2, now=NOW)
    assert undated is not None
    assert undated[1].on_time is None


def test_daily_completes_once_per_period_and_keeps_a_streak() -> None:
    task = daily(schedule={"type": "weekly", "days": ["mon", "wed", "fri"]}, timezone="UTC")
    first = rules.complete(task, TID, version=2, now=NOW)
    assert first is not None
    task, completion = first
    assert completion.completion_id == f"{TID}:2026-03-04"
    assert completion.streak == {"current": 1, "best": 1}
    assert completion.due_at == datetime(2026, 3, 5, tzinfo=UTC)
    assert rules.complete(task, TID, version=3, now=NOW + timedelta(hours=11)) is None
    friday = rules.complete(task, TID, version=3, now=NOW + timedelta(days=2))
    assert friday is not None
    task, completion = friday
    assert completion.streak == {"current": 2, "best": 2}
    # Monday the 9th is skipped; Wednesday the 11th starts again.
    after_gap = rules.complete(task, TID, version=4, now=NOW + timedelta(days=7))
    assert after_gap is not None
    assert after_gap[1].streak == {"current": 1, "best": 2}


def test_daily_periods_follow_the_users_time_zone() -> None:
    task = daily(timezone="Asia/Tokyo")  # every day
    # 2026-03-04 20:00 UTC is already the 5th in Tokyo.
    result = rules.complete(task, TID, version=2, now=datetime(2026, 3, 4, 20, 0, tzinfo=UTC))
    assert result is not None
    assert result[1].completion_id.endswith(":2026-03-05")
    view = rules.daily_view(result[0], datetime(2026, 3, 4, 21, 0, tzinfo=UTC))
    assert view["done_for_period"] is True
    assert view["current_period"] == "2026-03-05"


def test_daily_view_shows_a_broken_streak_as_zero() -> None:
    task = daily()
    result = rules.complete(task, TID, version=2, now=NOW)
    assert result is not None
    view = rules.daily_view(result[0], NOW + timedelta(days=2))
    assert view["streak"] == {"current": 0, "best": 1, "last_period": "2026-03-04"}
    assert view["done_for_period"] is False


def test_daily_before_its_schedule_starts_cannot_complete() -> None:
    task = daily(schedule={"type": "every", "every_days": 2, "start_date": "2026-04-01"})
    with pytest.raises(rules.Refused):
        rules.complete(task, TID, version=2, now=NOW)
    assert rules.daily_view(task, NOW)["next_period"] == "2026-04-01"


def test_reopening_a_daily_restores_the_previous_streak() -> None:
    task = daily()
    day1 = rules.complete(task, TID, version=2, now=NOW)
    assert day1 is not None
    day2 = rules.complete(day1[0], TID, version=3, now=NOW + timedelta(days=1))
    assert day2 is not None
    reopened = rules.reopen(day2[0], version=4, now=NOW + timedelta(days=1))
    assert reopened is not None
    task, undone = reopened
    assert undone == f"{TID}:2026-03-05"
    assert {k: task["streak"][k] for k in ("current", "best", "last_period")} == {
        "current": 1,
        "best": 1,
        "last_period": "2026-03-04",
    }
    # A past period cannot be reopened, and nothing is left to reopen now.
    assert rules.reopen(task, version=5, now=NOW + timedelta(days=1)) is None
    assert rules.reopen(day1[0], version=3, now=NOW + timedelta(days=1)) is None


def test_a_time_zone_change_cannot_open_a_paid_period() -> None:
    """Issue 8.13: complete a daily, move its zone west across midnight, complete again."""
    morning = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # in Etc/GMT+12: the 3rd, 21:00
    task = daily(timezone="UTC")
    first = rules.complete(task, TID, version=2, now=morning)  # pays 2026-03-04
    assert first is not None
    west = rules.patched(first[0], {"timezone": "Etc/GMT+12"}, 3, morning)
    assert west is not None
    assert rules.daily_view(west, morning)["current_period"] == "2026-03-03"
    assert rules.daily_view(west, morning)["done_for_period"] is True
    with pytest.raises(rules.Refused):
        rules.complete(west, TID, version=4, now=morning)
    # Not after reopening the paid period and then moving west either.
    reopened = rules.reopen(first[0], version=3, now=morning)
    assert reopened is not None
    moved = rules.patched(reopened[0], {"timezone": "Etc/GMT+12"}, 4, morning)
    assert moved is not None
    with pytest.raises(rules.Refused):
        rules.complete(moved, TID, version=5, now=morning)
    # Redoing the paid period itself is the same period key (paid once by gamification).
    redo = rules.complete(reopened[0], TID, version=4, now=morning)
    assert redo is not None
    assert redo[1].completion_id == first[1].completion_id
    # When that zone's calendar reaches the paid date, it is done; the day after pays.
    assert rules.complete(west, TID, version=4, now=morning + timedelta(hours=13)) is None
    later = rules.complete(west, TID, version=4, now=morning + timedelta(hours=28))
    assert later is not None
    assert later[1].completion_id == f"{TID}:2026-03-05"


def test_moving_east_into_a_new_day_pays_that_day_but_never_twice_a_day() -> None:
    task = daily(
        timezone="UTC", schedule={"type": "every", "every_days": 1, "start_date": "2026-03-01"}
    )
    first = rules.complete(task, TID, version=2, now=NOW)  # 12:00 UTC, the 4th
    assert first is not None
    east = rules.patched(first[0], {"timezone": "Etc/GMT-14"}, 3, NOW)  # 02:00 on the 5th
    assert east is not None
    second = rules.complete(east, TID, version=4, now=NOW)
    assert second is not None  # a new local day, as for a traveller
    assert second[1].completion_id == f"{TID}:2026-03-05"
    # A schedule whose period running now began before the paid one opens nothing.
    shifted = rules.patched(
        second[0],
        {"schedule": {"type": "every", "every_days": 4, "start_date": "2026-03-03"}},
        5,
        NOW + timedelta(days=1),
    )
    assert shifted is not None
    with pytest.raises(rules.Refused):
        rules.complete(shifted, TID, version=6, now=NOW + timedelta(days=1))


def test_reopen_todo_and_refuse_habits() -> None:
    done = rules.complete(todo(), TID, version=2, now=NOW)
    assert done is not None
    reopened = rules.reopen(done[0], version=3, now=NOW)
    assert reopened is not None
    assert reopened[0]["status"] == "open"
    assert reopened[0]["completion"] is None
    assert reopened[1] == f"{TID}:v2"
    assert rules.reopen(reopened[0], version=4, now=NOW) is None
    with pytest.raises(rules.Refused):
        rules.reopen(rules.new_task("a", {"title": "h", "kind": "habit"}, NOW), version=2, now=NOW)


def test_habit_taps_count_per_direction_and_day() -> None:
    task = rules.new_task("alice", {"title": "Water", "kind": "habit"}, NOW)
    ids = set()
    for version, direction in enumerate(["up", "up", "down", "up"], start=2):
        result = rules.complete(task, TID, version=version, now=NOW, direction=direction)  # type: ignore[arg-type]
        assert result is not None
        task, completion = result
        ids.add(completion.completion_id)
    assert len(ids) == 4  # every tap is its own completion
    assert (task["habit"]["up"], task["habit"]["down"], task["habit"]["best_up"]) == (3, 1, 3)
    assert completion.streak == {"current": 3, "best": 3}
    tomorrow = rules.complete(task, TID, version=6, now=NOW + timedelta(days=1))
    assert tomorrow is not None
    assert tomorrow[0]["habit"]["up"] == 1
    assert tomorrow[1].streak == {"current": 1, "best": 3}
    assert tomorrow[1].direction == "up"


def test_completion_event_follows_the_contract() -> None:
    task = todo(
        due_at=NOW + timedelta(hours=1),
        estimated_minutes=30,
        skill_ids=["focus"],
        tags=["work"],
        difficulty="hard",
        priority="high",
    )
    result = rules.complete(task, TID, version=2, now=NOW, actual_minutes=40)
    assert result is not None
    after, completion = result
    event = task_completed(after, rules.completion_event(TID, after, completion))
    assert event.type == "task.completed"
    assert event.user_id == "alice"
    assert event.data == {
        "task_id": TID,
        "completion_id": f"{TID}:v2",
        "kind": "todo",
        "difficulty": "hard",
        "priority": "high",
        "estimated_minutes": 30,
        "actual_minutes": 40,
        "due_at": "2026-03-04T13:00:00Z",
        "completed_at": "2026-03-04T12:00:00Z",
        "on_time": True,
        "streak": None,
        "habit_direction": None,
        "skill_ids": ["focus"],
        "tags": ["work"],
        "title": "Write",
    }
    # The same completion always gets the same event id (relays may publish it twice).
    assert task_completed(after, rules.completion_event(TID, after, completion)).id == event.id


def test_delete_and_restore() -> None:
    task = todo(title="Original")
    changed = rules.patched(task, {"title": "Changed"}, 2, NOW)
    assert changed is not None
    deleted = rules.soft_deleted(changed, 3, NOW)
    assert deleted["deleted_at"] == NOW
    back = rules.restored(deleted, rules.snapshot(task), 4, NOW)
    assert back["title"] == "Original"
    assert back["deleted_at"] is None
    assert back["version"] == 4


def test_restore_keeps_completion_state() -> None:
    done = rules.complete(todo(), TID, version=2, now=NOW)
    assert done is not None
    back = rules.restored(done[0], rules.snapshot(todo(title="Old")), 3, NOW)
    assert back["status"] == "completed"
    assert back["title"] == "Old"


def test_diff_reports_added_removed_changed_and_checklist_by_id() -> None:
    old = todo(notes="", tags=["a"], checklist=[{"text": "keep"}, {"text": "drop"}, {"text": "x"}])
    keep, drop, x = old["checklist"]
    new = dict(old)
    new["notes"] = "now with notes"
    new["tags"] = []
    new["title"] = "Renamed"
    new["checklist"] = [
        {**x, "done": True},
        {**keep, "text": "kept"},
        {"id": "aaaaaaaaaaaa", "text": "new", "done": False},
    ]
    result = diff(old, new, rules.TRACKED_FIELDS)
    assert result["added"] == {"notes": "now with notes"}
    assert result["removed"] == {"tags": ["a"]}
    assert result["changed"] == {"title": {"from": "Write", "to": "Renamed"}}
    assert result["checklist"]["added"] == [{"id": "aaaaaaaaaaaa", "text": "new", "done": False}]
    assert result["checklist"]["removed"] == [drop]
    assert result["checklist"]["changed"] == [
        {"id": x["id"], "changes": {"done": {"from": False, "to": True}}},
        {"id": keep["id"], "changes": {"text": {"from": "keep", "to": "kept"}}},
    ]
    assert result["checklist"]["reordered"] is True
    assert changed_fields(old, new, rules.TRACKED_FIELDS) == ["title", "notes", "tags", "checklist"]


def test_diff_of_identical_snapshots_is_empty() -> None:
    task = todo(checklist=[{"text": "a"}])
    result = diff(task, dict(task), rules.TRACKED_FIELDS)
    assert result == {
        "added": {},
        "removed": {},
        "changed": {},
        "checklist": {"added": [], "removed": [], "changed": [], "reordered": False},
    }
