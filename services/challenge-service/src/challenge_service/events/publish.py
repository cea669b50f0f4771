"""What challenge-service publishes: ``challenge.completed`` on ``events.challenges``
(``deepiri_kit.contracts.challenges``), one per participant of an ended challenge."""

from __future__ import annotations

from datetime import datetime

from challenge_service.domain.challenges import Challenge, Standing
from deepiri_kit.contracts import challenges as contract
from deepiri_kit.events import Envelope, event_envelope

SOURCE = "challenge-service"
STREAM = contract.STREAM

__all__ = ["SOURCE", "STREAM", "completed"]


def completed(challenge: Challenge, ended_at: datetime) -> list[Envelope]:
    """The events of an ended challenge's result; ids follow from (challenge, player), so a
    replayed or re-swept publish is recognisably the same event."""
    assert challenge.result is not None
    ranking = [
        contract.Standing(user_id=s.user_id, rank=s.rank, progress=s.progress)
        for s in challenge.result
    ]
    by_user = {s.user_id: s for s in challenge.result}
    events = []
    for standing in challenge.result:
        events.append(
            event_envelope(
                contract.ChallengeCompleted(
                    challenge_id=challenge.id,
                    difficulty=challenge.difficulty,
                    points=challenge.reward_points if standing.passed else 0,
                    passed=standing.passed,
                    category=challenge.category,
                    completed_at=ended_at,
                    kind=challenge.kind,
                    opponent=_opponent(standing, by_user) if challenge.kind == "duel" else None,
                    ranking=ranking if challenge.kind == "group" else None,
                    progress=standing.progress,
                    target=challenge.goal.target,
                ),
                source=SOURCE,
                user_id=standing.user_id,
                event_id=f"{contract.CHALLENGE_COMPLETED}:{challenge.id}:{standing.user_id}",
            )
        )
    return events


def _opponent(standing: Standing, by_user: dict[str, Standing]) -> contract.Opponent:
    other = next(u for u in by_user if u != standing.user_id)
    assert standing.outcome is not None
    return contract.Opponent(user_id=other, outcome=standing.outcome)
