"""Request and response bodies: strict models (unknown fields are a 400) and their shaping
from domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from challenge_service.domain import challenges as rules
from challenge_service.domain.challenges import Challenge, Progress
from deepiri_kit import Model, Out, utcnow
from deepiri_kit.contracts.agent import ChallengeKind, Difficulty

UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class GenerateIn(Model):
    """What to generate: the kind, optionally the difficulty (default: from the player's
    level), and for a duel the one friend, for a group 1-63 friends, to invite."""

    kind: ChallengeKind
    difficulty: Difficulty | None = None
    invite: Annotated[list[UserId], msgspec.Meta(max_length=rules.MAX_PLAYERS - 1)] = []


class GoalOut(Out):
    metric: str
    target: int
    tag: str | None
    skill_id: str | None


class MilestoneOut(Out):
    at: int
    label: str
    reached: bool


class PlayerOut(Out):
    user_id: str
    state: str
    accepted_at: datetime | None
    # The zone their days are counted in (streaks): their profile's when they accepted.
    time_zone: str
    progress: int
    reached_at: datetime | None


class StandingOut(Out):
    user_id: str
    rank: int
    progress: int
    passed: bool
    outcome: Literal["win", "loss", "draw"] | None

    @classmethod
    def of(cls, s: rules.Standing) -> StandingOut:
        return cls(
            user_id=s.user_id, rank=s.rank, progress=s.progress, passed=s.passed, outcome=s.outcome
        )


class ChallengeOut(Out):
    id: str
    kind: str
    # None once the owner's account was deleted (the others play on without them).
    owner: str | None
    title: str
    description: str
    difficulty: str
    category: str
    reward_points: int
    time_limit_hours: int
    goal: GoalOut
    hints: list[str]
    milestones: list[MilestoneOut]
    shares_tasks: bool
    answered_by: str
    status: str
    players: list[PlayerOut]
    # Players who left because their account was deleted (nothing else of them is kept).
    departed: int
    created_at: datetime
    offer_expires_at: datetime
    started_at: datetime | None
    deadline: datetime | None
    ended_at: datetime | None
    result: list[StandingOut] | None
    # Live standings while it runs (every kind): who is ahead, ties sharing a rank.
    leaderboard: list[StandingOut]

    @classmethod
    def of(cls, challenge: Challenge, progress: dict[str, Progress] | None = None) -> ChallengeOut:
        progress = progress or {}
        mine = {u: progress.get(u, Progress()) for u in (p.user_id for p in challenge.players)}
        best = max((p.value for p in mine.values()), default=0)
        # While it runs, the standings as they would be if it ended now.
        live = challenge.status == "active"
        board = rules.conclude(challenge, mine, utcnow()).result if live else challenge.result
        return cls(
            id=challenge.id,
            kind=challenge.kind,
            owner=challenge.owner,
            title=challenge.title,
            description=challenge.description,
            difficulty=challenge.difficulty,
            category=challenge.category,
            reward_points=challenge.reward_points,
            time_limit_hours=challenge.time_limit_hours,
            goal=GoalOut(
                metric=challenge.goal.metric,
                target=challenge.goal.target,
                tag=challenge.goal.tag,
                skill_id=challenge.goal.skill_id,
            ),
            hints=list(challenge.hints),
            milestones=[
                MilestoneOut(at=m.at, label=m.label, reached=best >= m.at)
                for m in challenge.milestones
            ],
            shares_tasks=challenge.shares_tasks,
            answered_by=challenge.answered_by,
            status=challenge.status,
            players=[
                PlayerOut(
                    user_id=p.user_id,
                    state=p.state,
                    accepted_at=p.accepted_at,
                    time_zone=p.time_zone,
                    progress=mine[p.user_id].value,
                    reached_at=mine[p.user_id].reached_at,
                )
                for p in challenge.players
            ],
            departed=challenge.departed,
            created_at=challenge.created_at,
            offer_expires_at=challenge.offer_expires_at,
            started_at=challenge.started_at,
            deadline=challenge.deadline,
            ended_at=challenge.ended_at,
            result=None
            if challenge.result is None
            else [StandingOut.of(s) for s in challenge.result],
            leaderboard=[StandingOut.of(s) for s in board or ()],
        )
