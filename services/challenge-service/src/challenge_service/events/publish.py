"""What challenge-service publishes: ``challenge.completed`` on ``events.challenges``
(``deepiri_kit.contracts.challenges``), one per participant of an ended challenge (the
events themselves are the domain's: ``domain/challenges.announcements``)."""

from __future__ import annotations

from deepiri_kit.contracts import challenges as contract
from deepiri_kit.events import Envelope, event_envelope

SOURCE = "challenge-service"
STREAM = contract.STREAM

__all__ = ["SOURCE", "STREAM", "completed"]


def completed(user_id: str, event: contract.ChallengeCompleted) -> Envelope:
    """The id follows from (challenge, player), so a re-swept or replayed publish is
    recognisably the same event."""
    return event_envelope(
        event,
        source=SOURCE,
        user_id=user_id,
        event_id=f"{contract.CHALLENGE_COMPLETED}:{event.challenge_id}:{user_id}",
    )
