"""challenge-service's test helpers: a challenge as ai-service answers one, to offer directly
(generation itself: tests/system/test_challenges.py)."""

from __future__ import annotations

from deepiri_kit.contracts import agent


def generated(
    kind: agent.ChallengeKind = "solo",
    target: int = 2,
    hours: int = 72,
    tag: str | None = "deep-work",
) -> agent.GeneratedChallenge:
    """``target`` tasks tagged ``tag`` (any task when ``tag`` is None; for a streak, days in a
    row) within ``hours``."""
    if kind == "streak":
        goal = agent.Goal(metric="streak_days", target=target)
    elif tag is None:
        goal = agent.Goal(metric="tasks_completed", target=target)
    else:
        goal = agent.Goal(metric="tasks_tagged", target=target, tag=tag)
    return agent.GeneratedChallenge(
        kind=kind,
        title=f"{target} {tag or 'any'} tasks",
        description="Focus.",
        difficulty="medium",
        category="productivity",
        reward_points=250,
        time_limit_hours=hours,
        goal=goal,
        answered_by="fallback",
        prompt_version="test",
    )
