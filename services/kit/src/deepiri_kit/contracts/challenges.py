"""``events.challenges``: what challenge-service publishes (gamification-service pays
``challenge.completed`` once per user and challenge). Envelope ``user_id`` = the player.

One ``challenge.completed`` per participant when a challenge ends (its goal reached, its
deadline passed, or — for a duel — the opponent forfeited). Every field after ``completed_at``
was added later and is optional, so older events still decode:

* ``kind`` — ``solo`` (a timed goal), ``streak``, ``duel`` (1-v-1), ``group`` (a ranking);
* ``opponent`` — a duel's other player and this player's ``outcome`` (win / loss / draw);
* ``ranking`` — a group's final standings, every participant once, rank 1 best, equal ranks
  tied (the same list in every participant's event, so any one of them records the match);
* ``progress`` / ``target`` — how far this player got;
* ``outcome`` — a duel's outcome for this player (as in ``opponent``), there also when the
  opponent cannot be named: a player whose account was deleted leaves every challenge they
  shared, so a duel they forfeited that way names no ``opponent`` and a group's ``ranking``
  lists only the players who remain (challenge-service keeps no id of an erased account).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from deepiri_kit.contracts.base import Event, Stream, UtcTime

__all__ = [
    "CHALLENGE_COMPLETED",
    "STREAM",
    "ChallengeCompleted",
    "ChallengeKind",
    "Opponent",
    "Outcome",
    "Standing",
]

CHALLENGE_COMPLETED = "challenge.completed"

ChallengeKind = Literal["solo", "streak", "duel", "group"]
Outcome = Literal["win", "loss", "draw"]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class Opponent(msgspec.Struct, frozen=True, kw_only=True):
    """A duel's other player, and how this player did against them."""

    user_id: Id
    outcome: Outcome


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """One participant's place in a group challenge's final ranking."""

    user_id: Id
    rank: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    progress: Count = 0


class ChallengeCompleted(Event, frozen=True, kw_only=True):
    TYPE = CHALLENGE_COMPLETED

    challenge_id: Id
    difficulty: Literal["easy", "medium", "hard", "very_hard"]
    points: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    passed: bool = True
    category: Literal["overall", "coding", "creative", "study", "productivity", "social"] | None = (
        None
    )
    completed_at: UtcTime | None = None
    kind: ChallengeKind | None = None
    opponent: Opponent | None = None
    ranking: Annotated[list[Standing], msgspec.Meta(max_length=64)] | None = None
    progress: Count | None = None
    target: Count | None = None
    outcome: Outcome | None = None


STREAM = Stream("events.challenges", ChallengeCompleted)
