"""challenge-service's test helpers: a challenge as ai-service answers one, to offer directly
(generation itself: tests/system/test_challenges.py); events announced to it, and waiting
until it has handled them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deepiri_kit.contracts import Event, agent
from deepiri_kit.events import EventBus, event_envelope
from support.waiting import eventually


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


async def announce(
    redis: Any,
    stream: str,
    event: Event,
    user: str,
    *,
    at: datetime | None = None,
    event_id: str | None = None,
) -> str:
    """``event`` published for ``user`` on ``stream``, made ``at`` (now if not given)."""
    envelope = event_envelope(event, source="test", user_id=user, occurred_at=at, event_id=event_id)
    await EventBus(redis).publish(stream, envelope)
    return envelope.id


async def handled(redis: Any, *streams: str) -> None:
    """Until challenge-service's consumer group has handled everything on ``streams``."""

    async def drained() -> bool:
        for stream in streams:
            groups = await redis.xinfo_groups(stream)
            mine = next((g for g in groups if g["name"] == "challenge-service"), None)
            if mine is None or mine["pending"] or mine["lag"] != 0:
                return False
        return True

    await eventually(drained)
