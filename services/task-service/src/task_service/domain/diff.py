"""Field-level differences between two task snapshots.

Scalar and list fields are reported as added (absent or null before), removed (absent or null
after) or changed (from → to). Checklist items are matched by their id, so renaming or
checking an item is a change to that item, not a removal plus an addition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CHECKLIST = "checklist"


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != ""


def changed_fields(
    old: Mapping[str, Any], new: Mapping[str, Any], fields: Iterable[str]
) -> list[str]:
    """The names of ``fields`` whose values differ (in the order given)."""
    return [f for f in fields if _normal(old.get(f)) != _normal(new.get(f))]


def _normal(value: Any) -> Any:
    # An empty string, an empty list and a missing field all mean "not set".
    return value if _present(value) else None


def diff(old: Mapping[str, Any], new: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    added: dict[str, Any] = {}
    removed: dict[str, Any] = {}
    changed: dict[str, Any] = {}
    checklist: dict[str, Any] | None = None
    for field in fields:
        before, after = old.get(field), new.get(field)
        if _normal(before) == _normal(after):
            continue
        if field == CHECKLIST:
            checklist = checklist_diff(before or [], after or [])
        elif not _present(before):
            added[field] = after
        elif not _present(after):
            removed[field] = before
        else:
            changed[field] = {"from": before, "to": after}
    result: dict[str, Any] = {"added": added, "removed": removed, "changed": changed}
    result[CHECKLIST] = checklist or {"added": [], "removed": [], "changed": [], "reordered": False}
    return result


def checklist_diff(
    before: list[Mapping[str, Any]], after: list[Mapping[str, Any]]
) -> dict[str, Any]:
    old_by_id = {item["id"]: item for item in before}
    new_by_id = {item["id"]: item for item in after}
    added = [dict(item) for item in after if item["id"] not in old_by_id]
    removed = [dict(item) for item in before if item["id"] not in new_by_id]
    changed = []
    for item in after:
        previous = old_by_id.get(item["id"])
        if previous is None:
            continue
        changes = {
            key: {"from": previous.get(key), "to": item.get(key)}
            for key in sorted(set(previous) | set(item))
            if key != "id" and previous.get(key) != item.get(key)
        }
        if changes:
            changed.append({"id": item["id"], "changes": changes})
    kept_old_order = [i["id"] for i in before if i["id"] in new_by_id]
    kept_new_order = [i["id"] for i in after if i["id"] in old_by_id]
    return {
        "added": added,
        "removed": removed,
        "changed": changed,
        "reordered": kept_old_order != kept_new_order,
    }
