"""ai-service's request/response contract (deepiri_kit.contracts.agent): wire payloads as the
caller sends and ai-service answers them, strict requests, tolerant responses, and the rules
that say what the platform allows."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from deepiri_kit.contracts import agent

pytestmark = pytest.mark.unit

REQUEST: dict[str, Any] = {
    "user_id": "665f1c2e9b1e8a0001a1b2c3",
    "kind": "solo",
    "level": 4,
    "time_zone": "Europe/Berlin",
    "recent_tasks": [
        {
            "title": "Refactor the parser",
            "tags": ["deep-work"],
            "skill_ids": ["python"],
            "completed_at": "2026-11-29T10:00:00Z",
        }
    ],
    "skills": [{"skill_id": "python", "level": 3}],
    "difficulty": "medium",
}
ANSWER: dict[str, Any] = {
    "kind": "solo",
    "title": "Deep work sprint",
    "description": "Complete 5 tasks tagged deep-work in 3 days.",
    "difficulty": "medium",
    "category": "productivity",
    "reward_points": 250,
    "time_limit_hours": 72,
    "goal": {"metric": "tasks_tagged", "target": 5, "tag": "deep-work"},
    "hints": ["Block two hours each morning."],
    "milestones": [{"at": 2, "label": "Warmed up"}, {"at": 4, "label": "Almost there"}],
    "answered_by": "model",
    "prompt_version": "challenge-v1",
    "model": "small-model",
}


def challenge(**changes: Any) -> agent.GeneratedChallenge:
    return msgspec.convert({**ANSWER, **changes}, agent.GeneratedChallenge)


def test_a_request_and_an_answer_round_trip() -> None:
    request = msgspec.convert(REQUEST, agent.ChallengeRequest)
    assert msgspec.to_builtins(request)["recent_tasks"][0]["completed_at"] == (
        "2026-11-29T10:00:00Z"
    )
    answer = msgspec.json.decode(msgspec.json.encode(ANSWER), type=agent.GeneratedChallenge)
    assert msgspec.to_builtins(answer) == ANSWER
    assert agent.challenge_violations(answer, request) == []


@pytest.mark.parametrize(
    "change",
    [
        {"surprise": 1},  # unknown field: requests are strict
        {"kind": "quiz"},
        {"level": 0},
        {"time_zone": "Europe/Berlin; drop"},
        {"recent_tasks": [{"title": "x", "completed_at": "2026-11-29T10:00:00"}]},  # no zone
        {"skills": [{"skill_id": "Python", "level": 1}]},
        {"user_id": ""},
    ],
)
def test_requests_are_strict(change: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**REQUEST, **change}, agent.ChallengeRequest)


def test_answers_tolerate_fields_added_later() -> None:
    answer = msgspec.convert({**ANSWER, "confidence": 0.9}, agent.GeneratedChallenge)
    assert answer.title == ANSWER["title"]


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"reward_points": 1000}, "outside medium's range 175-375"),
        ({"difficulty": "easy", "reward_points": 250}, "outside easy's range"),
        ({"goal": {"metric": "streak_days", "target": 3}}, "cannot measure streak_days"),
        ({"goal": {"metric": "tasks_tagged", "target": 5}}, "goal.tag is required"),
        ({"goal": {"metric": "tasks_completed", "target": 5, "tag": "x"}}, "goal.tag"),
        ({"goal": {"metric": "skill_xp", "target": 500}}, "goal.skill_id is required"),
        ({"goal": {"metric": "tasks_completed", "target": 500}}, "outside 1-100"),
        ({"milestones": [{"at": 4, "label": "a"}, {"at": 2, "label": "b"}]}, "rise strictly"),
        ({"milestones": [{"at": 5, "label": "a"}]}, "below the goal's target"),
        ({"kind": "duel"}, "was not asked for"),
        ({"difficulty": "hard", "reward_points": 500}, "difficulty hard was not asked for"),
        (
            {"goal": {"metric": "skill_xp", "target": 500, "skill_id": "cooking"}},
            "not one of the user's skills",
        ),
    ],
)
def test_what_the_platform_does_not_allow_is_named(changes: dict[str, Any], complaint: str) -> None:
    request = msgspec.convert(REQUEST, agent.ChallengeRequest)
    found = agent.challenge_violations(challenge(**changes), request)
    assert any(complaint in f for f in found), found


def test_a_streak_needs_the_days_it_counts() -> None:
    streak = challenge(kind="streak", goal={"metric": "streak_days", "target": 5}, milestones=[])
    assert any("at least N days" in f for f in agent.challenge_violations(streak))
    assert agent.challenge_violations(msgspec.structs.replace(streak, time_limit_hours=120)) == []


def test_every_kind_can_measure_something_and_every_range_is_sane() -> None:
    assert set(agent.KIND_METRICS) == {"solo", "streak", "duel", "group"}
    for low, high in agent.REWARD_RANGE.values():
        assert 0 < low < high
    for low, high in agent.GOAL_TARGETS.values():
        assert 1 <= low < high


UNDERSTOOD: dict[str, Any] = {
    "title": "Write the Q3 report",
    "due_at": "2026-12-04T17:00:00+01:00",
    "estimated_minutes": 120,
    "difficulty": "medium",
    "tags": ["work"],
    "skill_ids": ["writing"],
    "subtasks": [
        {"title": "Collect numbers", "estimated_minutes": 30},
        {"title": "Draft", "estimated_minutes": 60, "depends_on": [0]},
        {"title": "Review", "depends_on": [0, 1]},
    ],
    "answered_by": "fallback",
    "prompt_version": "task-v1",
}


def test_task_understanding_round_trips_with_the_users_offset() -> None:
    request = agent.TaskUnderstandingRequest(
        user_id="u1", text="write the Q3 report by friday 5pm", skills=["writing"]
    )
    result = msgspec.convert(UNDERSTOOD, agent.TaskUnderstanding)
    assert result.due_at is not None
    assert result.due_at.utcoffset() is not None
    assert msgspec.to_builtins(result)["due_at"] == "2026-12-04T17:00:00+01:00"
    assert agent.understanding_violations(result, request) == []


def test_subtasks_depend_only_on_earlier_ones_and_skills_are_the_users() -> None:
    request = agent.TaskUnderstandingRequest(user_id="u1", text="x", skills=[])
    cyclic = {**UNDERSTOOD, "subtasks": [{"title": "a", "depends_on": [1]}, {"title": "b"}]}
    found = agent.understanding_violations(
        msgspec.convert(cyclic, agent.TaskUnderstanding), request
    )
    assert any("earlier subtasks" in f for f in found)
    assert any("not the user's" in f for f in found)
