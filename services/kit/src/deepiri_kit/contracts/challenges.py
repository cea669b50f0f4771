"""``events.challenges``: what challenge-service publishes (gamification-service pays
``challenge.completed`` once per user and challenge). Envelope ``user_id`` = the player.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from deepiri_kit.contracts.base import Event, Stream, UtcTime

__all__ = ["CHALLENGE_COMPLETED", "STREAM", "ChallengeCompleted"]

CHALLENGE_COMPLETED = "challenge.completed"


class ChallengeCompleted(Event, frozen=True, kw_only=True):
    TYPE = CHALLENGE_COMPLETED

    challenge_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    difficulty: Literal["easy", "medium", "hard", "very_hard"]
    points: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    passed: bool = True
    category: Literal["overall", "coding", "creative", "study", "productivity", "social"] | None = (
        None
    )
    completed_at: UtcTime | None = None


STREAM = Stream("events.challenges", ChallengeCompleted)
