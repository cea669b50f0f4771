"""ai-service's test helpers: requests as challenge-service sends them, and model answers
(drafts) as a well-behaved or a misbehaving model would write them."""

from __future__ import annotations

import json
from typing import Any

from deepiri_kit.contracts.agent import CHALLENGES_PATH, SCOPE, UNDERSTAND_PATH

__all__ = [
    "CHALLENGES_PATH",
    "SCOPE",
    "UNDERSTAND_PATH",
    "challenge_draft",
    "challenge_request",
    "service_headers",
    "task_draft",
]


def service_headers(
    issuer: Any, scopes: str = SCOPE, client: str = "challenge-service"
) -> dict[str, str]:
    """A service's own token (client credentials: subject = client id) from the test issuer."""
    return issuer.headers(client, scopes, client_id=client)


def challenge_request(**changes: Any) -> dict[str, Any]:
    return {
        "user_id": "665f1c2e9b1e8a0001a1b2c3",
        "kind": "solo",
        "level": 6,
        "time_zone": "Europe/Berlin",
        "recent_tasks": [
            {"title": "Refactor the parser", "tags": ["deep-work"], "skill_ids": ["python"]},
            {"title": "Write API docs", "tags": ["deep-work", "docs"], "skill_ids": []},
            {"title": "Fix login bug", "tags": ["bugs"], "skill_ids": ["python"]},
        ],
        "skills": [{"skill_id": "python", "level": 3}],
        **changes,
    }


def challenge_draft(**changes: Any) -> str:
    """A draft the platform allows for :func:`challenge_request` (medium, solo)."""
    draft = {
        "title": "Deep work sprint",
        "description": "Finish five deep-work tasks in three days.",
        "difficulty": "medium",
        "category": "coding",
        "reward_points": 300,
        "time_limit_hours": 72,
        "goal": {"metric": "tasks_tagged", "target": 5, "tag": "deep-work", "skill_id": None},
        "hints": ["Start with the smallest one."],
        "milestones": [{"at": 2, "label": "Two down"}, {"at": 4, "label": "One to go"}],
        **changes,
    }
    return json.dumps(draft)


def task_draft(**changes: Any) -> str:
    draft = {
        "title": "Write the Q3 report",
        "due_local": "2026-12-04T17:00",
        "estimated_minutes": 120,
        "difficulty": "medium",
        "tags": ["work"],
        "skill_ids": [],
        "subtasks": [
            {"title": "Collect numbers", "estimated_minutes": 30, "depends_on": []},
            {"title": "Draft", "estimated_minutes": 60, "depends_on": [0]},
        ],
        **changes,
    }
    return json.dumps(draft)
