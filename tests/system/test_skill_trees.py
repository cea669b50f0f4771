"""Skill trees across real processes and the real bus: tasks completed through task-service's
HTTP API train the owner's skills in user-service (its consumer of ``task.completed``), by the
task's skill ids or else its tags; the caller sees XP, levels and points rise and unlocks."""

from __future__ import annotations

from typing import Any

import pytest

from support.processes import ServiceProcesses
from support.tokens import TokenIssuer
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]


def test_completing_tasks_trains_skills(
    service_process: ServiceProcesses, issuer: TokenIssuer
) -> None:
    task_service = service_process("task-service")
    user_service = service_process("user-service", workers=2)
    tasks_h = issuer.headers("alice", "tasks:read tasks:write")
    users_h = issuer.headers("alice", "users:read users:write")
    with task_service.client(tasks_h) as tasks, user_service.client(users_h) as users:
        assert users.get("/api/users/skills/programming").json()["xp"] == 0
        bodies: list[dict[str, Any]] = [
            {"title": "fix the flaky test", "difficulty": "hard", "skill_ids": ["debugging"]},
            {"title": "write the parser", "difficulty": "hard", "tags": ["python"]},
        ]
        bodies += [
            {"title": f"kata {i}", "difficulty": "hard", "tags": ["coding"]} for i in range(4)
        ]
        for body in bodies:
            created = tasks.post("/api/tasks", json=body)
            assert created.status_code == 201, created.text
            done = tasks.post(f"/api/tasks/{created.json()['id']}/complete", json={})
            assert done.status_code == 200, done.text

        def trained() -> dict[str, Any] | None:
            tree = users.get("/api/users/skills").json()
            skills = {s["id"]: s for c in tree["categories"] for s in c["skills"]}
            done = skills["programming"]["xp"] >= 1000 and skills["debugging"]["xp"] >= 200
            return {"tree": tree, "skills": skills} if done else None

        seen = wait_for(trained, what="skill XP from completed tasks")
        skills = seen["skills"]
        # hard = 200 XP to the one skill each task trains: 5 programming tasks make level 2.
        assert (skills["programming"]["xp"], skills["programming"]["level"]) == (1000, 2)
        assert (skills["debugging"]["xp"], skills["debugging"]["level"]) == (200, 1)
        assert seen["tree"]["points"] == 1
        unlocked = users.post("/api/users/skills/programming/unlock")
        assert unlocked.status_code == 200, unlocked.text
        assert unlocked.json()["points"] == 0
        blocked = users.post("/api/users/skills/debugging/unlock")
        assert blocked.status_code == 409
        assert blocked.json()["needed"] == 2
