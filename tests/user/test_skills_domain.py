"""Skill trees, pure: the shipped definitions, validation of bad files, the XP→level curve,
points on level-up and the unlock rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from deepiri_kit import Conflict, NotFound
from deepiri_kit.contracts.tasks import TaskCompleted
from user_service.domain.skills import (
    Progress,
    TreeError,
    completion_xp,
    gains_for,
    level_of,
    parse_tree,
    shipped_tree,
    train,
    trained_skills,
    training_key,
    unlock,
)

pytestmark = pytest.mark.unit


def tree_json(skills: list[dict[str, Any]], tags: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {"categories": [{"id": "c", "name": "C", "skills": skills}], "tags": tags or {}}
    )


def skill(skill_id: str, *requires: str, cost: int = 1) -> dict[str, Any]:
    return {"id": skill_id, "name": skill_id.title(), "cost": cost, "requires": list(requires)}


SMALL = parse_tree(tree_json([skill("a"), skill("b", "a", cost=2), skill("c", "a", "b")]))


def test_the_shipped_tree_has_the_seeds_six_categories_and_22_skills() -> None:
    tree = shipped_tree()
    assert [c.id for c in tree.categories] == [
        "productivity",
        "technical",
        "creative",
        "learning",
        "social",
        "meta",
    ]
    assert len(tree.skills) >= 22
    assert any(s.requires for s in tree.skills.values())
    # Every category has a root: something can be unlocked first.
    for category in tree.categories:
        assert any(not tree.skills[s].requires for s in category.skills), category.id


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{not json", "skill tree: "),
        (json.dumps({"tags": {}}), "categories"),
        (tree_json([skill("a"), skill("a")]), "duplicate skill id 'a'"),
        (tree_json([skill("a", "ghost")]), "'a' requires unknown skill(s) ['ghost']"),
        (tree_json([skill("a", "a")]), "prerequisite cycle a -> a"),
        (
            tree_json([skill("a", "c"), skill("b", "a"), skill("c", "b")]),
            "prerequisite cycle a -> c -> b -> a",
        ),
        (tree_json([skill("a", "b", "b"), skill("b")]), "'a' lists a prerequisite twice"),
        (tree_json([skill("a")], {"code": ["a", "nope"]}), "tag 'code' maps to unknown skill"),
        (tree_json([skill("a")], {"Code": ["a"], "code ": ["a"]}), "duplicate tag 'code'"),
        (tree_json([{"id": "Bad Id", "name": "x"}]), "categories[0].skills[0].id"),
        (tree_json([{**skill("a"), "cost": -1}]), "cost"),
        (tree_json([{**skill("a"), "bonus": 3}]), "bonus"),
        (
            json.dumps(
                {
                    "categories": [
                        {"id": "c", "name": "C", "skills": [skill("a")]},
                        {"id": "c", "name": "D", "skills": [skill("b")]},
                    ]
                }
            ),
            "duplicate category id 'c'",
        ),
        (
            json.dumps(
                {
                    "categories": [
                        {"id": "c", "name": "C", "skills": [skill("a")]},
                        {"id": "d", "name": "D", "skills": [skill("a")]},
                    ]
                }
            ),
            "duplicate skill id 'a'",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(raw: str, problem: str) -> None:
    with pytest.raises(TreeError) as refused:
        parse_tree(raw)
    assert problem in str(refused.value)


def test_a_cycle_deep_in_a_larger_graph_is_found() -> None:
    skills = [skill(f"s{i}", f"s{i - 1}") for i in range(1, 200)]
    assert len(parse_tree(tree_json([skill("s0"), *skills])).skills) == 200
    with pytest.raises(TreeError, match="s150 -> s149"):
        parse_tree(tree_json([skill("s0", "s150"), *skills]))


@pytest.mark.parametrize(
    ("xp", "level"), [(0, 1), (1, 1), (999, 1), (1000, 2), (1999, 2), (2000, 3), (12_345, 13)]
)
def test_level_is_floor_xp_over_1000_plus_1(xp: int, level: int) -> None:
    assert level_of(xp) == level


def test_each_level_gained_grants_a_point() -> None:
    progress, leveled = train(SMALL, Progress(), {"a": 999})
    assert (progress.xp, progress.points, leveled) == ({"a": 999}, 0, [])
    progress, leveled = train(SMALL, progress, {"a": 1, "b": 2500})
    assert progress.xp == {"a": 1000, "b": 2500}
    assert (progress.points, progress.granted) == (3, 3)
    assert [(lv.skill_id, lv.previous_level, lv.level, lv.points_granted) for lv in leveled] == [
        ("a", 1, 2, 1),
        ("b", 1, 3, 2),
    ]
    with pytest.raises(NotFound):
        train(SMALL, progress, {"ghost": 10})


def test_completion_xp_is_shared_among_the_skills_trained() -> None:
    assert completion_xp("medium", 1) == 100
    assert completion_xp("medium", 3) == 34  # rounded up
    assert completion_xp("hard", 0) == 0


def test_a_task_trains_its_known_skill_ids_else_its_tags_skills() -> None:
    tree = shipped_tree()
    assert trained_skills(tree, ["debugging", "ghost", "debugging"], ["writing"]) == ["debugging"]
    assert trained_skills(tree, ["ghost"], [" Python ", "bug", "unmapped"]) == [
        "programming",
        "debugging",
    ]
    assert trained_skills(tree, [], []) == []


def completed(**fields: Any) -> TaskCompleted:
    base: dict[str, Any] = {
        "task_id": "t1",
        "kind": "todo",
        "difficulty": "hard",
        "completed_at": datetime(2026, 5, 1, tzinfo=UTC),
    }
    return TaskCompleted(**{**base, **fields})


def test_gains_and_keys_of_a_completion() -> None:
    tree = shipped_tree()
    assert gains_for(tree, completed(tags=["coding", "bug"])) == {
        "programming": 100,
        "debugging": 100,
    }
    assert gains_for(tree, completed(kind="habit", habit_direction="down", tags=["code"])) == {}
    todo = completed()
    assert training_key("e1", todo) == training_key("e2", todo)  # once per todo
    habit = completed(kind="habit")
    assert training_key("e1", habit) != training_key("e2", habit)
    daily = completed(kind="daily", completion_id="c1")
    assert training_key("e1", daily) == training_key("e2", daily)
    assert training_key("e1", daily) != training_key("e1", completed(kind="daily"))


def test_unlock_needs_prerequisites_and_points() -> None:
    progress = Progress(points=1, granted=1)
    with pytest.raises(Conflict) as missing:
        unlock(SMALL, progress, "c")
    assert missing.value.extra["missing"] == ["a", "b"]
    assert "'a', 'b'" in missing.value.detail

    progress, skill_def = unlock(SMALL, progress, "a")
    assert (progress.unlocked, progress.points, skill_def.cost) == (["a"], 0, 1)
    with pytest.raises(Conflict, match="unlocked already"):
        unlock(SMALL, progress, "a")
    with pytest.raises(Conflict) as poor:
        unlock(SMALL, progress, "b")
    assert (poor.value.extra["needed"], poor.value.extra["available"]) == (2, 0)
    with pytest.raises(NotFound):
        unlock(SMALL, progress, "ghost")

    progress = Progress(unlocked=["a"], points=2, granted=3)
    progress, _ = unlock(SMALL, progress, "b")
    assert (progress.unlocked, progress.points, progress.granted) == (["a", "b"], 0, 3)
