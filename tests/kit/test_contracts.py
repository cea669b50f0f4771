"""Every event of every stream the kit declares (deepiri_kit.contracts), against a payload as
its producer puts it on the wire today: round trip, required fields, ill-typed or unknown
payloads refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from deepiri_kit.contracts import (
    ContractError,
    Event,
    Stream,
    challenges,
    gamification,
    skills,
    social,
    tasks,
    users,
)
from support.contracts import assert_contract

pytestmark = pytest.mark.unit

SUMMARY = {"task_id": "665f1c2e9b1e8a0001a1b2c3", "version": 3, "kind": "todo", "title": "Ship"}
WALLET = {
    "user_id": "u1",
    "entry_key": "task:665f1c2e9b1e8a0001a1b2c3",
    "kind": "task",
    "reason": "todo completed",
    "amounts": {"xp": 10, "coins": 5},
    "balances": {"xp": 110, "coins": 25, "gems": 0, "energy": 100, "tokens": 0, "stars": 0},
    "level": 2,
    "ref": {"event_id": "e1", "task_id": "665f1c2e9b1e8a0001a1b2c3"},
}
WIRE: dict[type[Event], dict[str, Any]] = {
    tasks.TaskCreated: {
        **SUMMARY,
        "difficulty": "medium",
        "priority": "high",
        "due_at": "2026-05-01T09:00:00+00:00",
        "estimated_minutes": 30,
        "skill_ids": ["python"],
        "tags": ["work"],
    },
    tasks.TaskUpdated: {**SUMMARY, "changed": ["title", "tags"], "restored_from": 2},
    tasks.TaskDeleted: SUMMARY,
    tasks.TaskCompleted: {
        "task_id": "665f1c2e9b1e8a0001a1b2c3",
        "completion_id": "c-2026-05-01",
        "kind": "daily",
        "difficulty": "easy",
        "priority": "normal",
        "estimated_minutes": 15,
        "actual_minutes": 12,
        "due_at": None,
        "completed_at": "2026-05-01T08:15:00.123Z",
        "on_time": True,
        "streak": {"current": 4, "best": 9},
        "habit_direction": None,
        "skill_ids": [],
        "tags": ["health"],
        "title": "Stretch",
    },
    tasks.TaskReopened: {**SUMMARY, "completion_id": "c-2026-05-01"},
    gamification.CurrencyCredited: WALLET,
    gamification.CurrencySpent: {**WALLET, "kind": "spend", "amounts": {"coins": 5}},
    gamification.LevelUp: {
        "user_id": "u1",
        "level": 3,
        "previous_level": 2,
        "xp": 260,
        "xp_to_next_level": 90,
    },
    gamification.BadgeAwarded: {
        "user_id": "u1",
        "badge_id": "first-steps",
        "name": "First steps",
        "description": "Complete your first task",
        "category": "tasks",
        "rarity": "common",
        "tier": 1,
        "family": None,
        "secret": False,
        "reward": {"coins": 10},
    },
    gamification.RatingChanged: {
        "user_id": "u1",
        "category": "coding",
        "match_id": "m1",
        "method": "elo",
        "result": "win",
        "rank": 1,
        "before": 1500,
        "after": 1516.0,
        "delta": 16.0,
        "peak": 1516.0,
        "provisional": True,
    },
    challenges.ChallengeCompleted: {
        "challenge_id": "ch1",
        "difficulty": "very_hard",
        "points": 800,
        "passed": True,
        "category": "coding",
        "completed_at": "2026-05-01T10:00:00Z",
    },
    users.UserRegistered: {"user_id": "u1", "display_name": "Ada", "username": "ada"},
    users.UserUpdated: {"user_id": "u1", "display_name": None, "email": "ada@example.com"},
    users.UserDeleted: {"user_id": "u1"},
    users.UserLoggedIn: {"user_id": "u1", "client_id": "deepiri-web"},
    users.VerificationRequested: {
        "user_id": "u1",
        "email": "ada@example.com",
        "locale": "en",
        "link": "https://deepiri.example/api/users/email/verify?token=abc",
        "expires_at": "2026-05-02T08:15:00Z",
    },
    users.PasswordResetRequested: {
        "user_id": "u1",
        "email": "ada@example.com",
        "locale": "pt-BR",
        "link": "https://deepiri.example/api/users/password/reset?token=abc",
        "expires_at": "2026-05-01T08:45:00Z",
    },
    skills.SkillLeveled: {
        "user_id": "u1",
        "skill_id": "programming",
        "category": "technical",
        "level": 3,
        "previous_level": 2,
        "xp": 2040,
        "points_granted": 1,
        "points": 2,
        "task_id": "665f1c2e9b1e8a0001a1b2c3",
    },
    skills.SkillUnlocked: {
        "user_id": "u1",
        "skill_id": "debugging",
        "category": "technical",
        "cost": 2,
        "points": 0,
        "unlocked": 2,
    },
    social.FriendRequested: {"user_id": "u1", "friend_id": "u2"},
    social.FriendAdded: {"user_id": "u1", "friend_id": "u2"},
    social.FriendRemoved: {"user_id": "u1", "friend_id": "u2", "reason": "blocked"},
    social.Blocked: {"user_id": "u1", "blocked_id": "u2"},
}
STREAMS = [
    tasks.STREAM,
    gamification.STREAM,
    challenges.STREAM,
    users.STREAM,
    skills.STREAM,
    social.STREAM,
]
CASES = [(s, contract) for s in STREAMS for contract in s.types.values()]


def test_every_declared_event_has_a_wire_example() -> None:
    assert {c for _, c in CASES} == set(WIRE)


@pytest.mark.parametrize(("stream", "contract"), CASES, ids=[c.TYPE for _, c in CASES])
def test_contract(stream: Stream, contract: type[Event]) -> None:
    assert_contract(stream, contract, WIRE[contract])


def test_stream_names_and_literals() -> None:
    assert [s.name for s in STREAMS] == [
        "events.tasks",
        "events.gamification",
        "events.challenges",
        "events.users",
        "events.skills",
        "events.social",
    ]
    assert tasks.TaskCompleted.TYPE == tasks.TASK_COMPLETED == "task.completed"
    assert gamification.RatingChanged.TYPE == "gamification.rating_changed"


def test_times_need_a_zone() -> None:
    wire = WIRE[tasks.TaskCompleted]
    with pytest.raises(ContractError, match="completed_at"):
        tasks.TaskCompleted.from_data({**wire, "completed_at": "2026-05-01T08:15:00"})
    event = tasks.TaskCompleted.from_data({**wire, "completed_at": "2026-05-01T10:15:00+02:00"})
    assert event.completed_at == datetime(2026, 5, 1, 8, 15, tzinfo=UTC)


def test_unknown_fields_are_tolerated_and_missing_names_stay_unset() -> None:
    """A producer may add an optional field before its consumers know it; a user.updated
    that leaves a name out does not clear it."""
    event = tasks.TaskDeleted.from_data({**SUMMARY, "added_later": 1})
    assert event == tasks.TaskDeleted.from_data(SUMMARY)
    updated = users.UserUpdated.from_data({"user_id": "u1", "username": "ada"})
    assert "display_name" not in updated.data()
    assert users.UserUpdated.from_data({"display_name": None}).display_name is None


def test_literals_are_enforced() -> None:
    with pytest.raises(ContractError, match="kind"):
        tasks.TaskCompleted.from_data({**WIRE[tasks.TaskCompleted], "kind": "chore"})
    with pytest.raises(ContractError, match="reason"):
        social.FriendRemoved.from_data({"user_id": "u1", "friend_id": "u2", "reason": "bored"})
    with pytest.raises(ContractError, match="points"):
        challenges.ChallengeCompleted.from_data(
            {"challenge_id": "c", "difficulty": "easy", "points": -1}
        )


def test_challenge_results_of_duels_and_groups_are_optional_additions() -> None:
    old = WIRE[challenges.ChallengeCompleted]
    assert challenges.ChallengeCompleted.from_data(old).opponent is None  # older events decode
    duel = {
        **old,
        "kind": "duel",
        "opponent": {"user_id": "u2", "outcome": "win"},
        "progress": 5,
        "target": 5,
    }
    assert_contract(challenges.STREAM, challenges.ChallengeCompleted, duel)
    group = {
        **old,
        "kind": "group",
        "passed": False,
        "ranking": [
            {"user_id": "u1", "rank": 1, "progress": 4},
            {"user_id": "u2", "rank": 1, "progress": 4},
            {"user_id": "u3", "rank": 3, "progress": 0},
        ],
    }
    event = challenges.ChallengeCompleted.from_data(group)
    assert event.ranking is not None
    assert [s.rank for s in event.ranking] == [1, 1, 3]
    assert_contract(challenges.STREAM, challenges.ChallengeCompleted, group)
    with pytest.raises(ContractError, match="outcome"):
        challenges.ChallengeCompleted.from_data(
            {**duel, "opponent": {"user_id": "u2", "outcome": "won"}}
        )
    # A duel whose opponent's account was deleted: the outcome without a name.
    forfeited = {**old, "kind": "duel", "outcome": "win", "progress": 2, "target": 5}
    event = challenges.ChallengeCompleted.from_data(forfeited)
    assert (event.opponent, event.outcome) == (None, "win")
    assert_contract(challenges.STREAM, challenges.ChallengeCompleted, forfeited)
    with pytest.raises(ContractError, match="outcome"):
        challenges.ChallengeCompleted.from_data({**forfeited, "outcome": "won"})
    with pytest.raises(ContractError, match="rank"):
        challenges.ChallengeCompleted.from_data(
            {**group, "ranking": [{"user_id": "u1", "rank": 0}]}
        )
