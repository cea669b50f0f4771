"""What gamification-service consumes (consumer group ``gamification-service``).

``events.tasks`` — ``task.completed`` (task-service): envelope ``user_id`` = the owner,
envelope ``id`` = the idempotency key. Pays the reward of
:func:`gamification_service.domain.rewards.task_reward` once per event.

``events.challenges`` — ``challenge.completed`` (challenge-service), data::

    {"challenge_id": str, "difficulty": "easy"|"medium"|"hard"|"very_hard",
     "points": int (0..100000), "passed": bool (default true),
     "category": "overall"|"coding"|"creative"|"study"|"productivity"|"social"|null,
     "completed_at": ISO-8601}

Pays :func:`~gamification_service.domain.rewards.challenge_reward` once per user and
challenge (the ledger key is ``challenge:<user>:<challenge_id>``, so even a re-sent
completion under a new event id pays nothing more).

``events.users`` — ``user.registered`` / ``user.updated``: only ``display_name`` (or
``username``) is kept, for leaderboards.

Other event types on these streams are ignored. An event that does not match its schema
fails, is retried and ends in the dead-letter stream ``dlq.gamification-service``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from deepiri_kit.events import Envelope
from gamification_service.domain import rewards
from gamification_service.domain.wallet import ChallengeFacts, TaskFacts, recent_completions
from gamification_service.store.profiles import Profiles
from gamification_service.store.wallets import Draft, WalletStore

GROUP = "gamification-service"
TASKS, CHALLENGES, USERS = "events.tasks", "events.challenges", "events.users"

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=100_000)]


class Streak(msgspec.Struct):
    current: Annotated[int, msgspec.Meta(ge=0)] = 0
    best: Annotated[int, msgspec.Meta(ge=0)] = 0


class TaskCompleted(msgspec.Struct, kw_only=True):
    task_id: Id
    completion_id: Id | None = None
    kind: Literal["todo", "daily", "habit"]
    difficulty: Literal["trivial", "easy", "medium", "hard"]
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    estimated_minutes: Minutes | None = None
    actual_minutes: Minutes | None = None
    due_at: datetime | None = None
    completed_at: datetime
    on_time: bool | None = None
    streak: Streak | None = None
    habit_direction: Literal["up", "down"] | None = None


class ChallengeCompleted(msgspec.Struct, kw_only=True):
    challenge_id: Id
    difficulty: Literal["easy", "medium", "hard", "very_hard"]
    points: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    passed: bool = True
    category: Literal["overall", "coding", "creative", "study", "productivity", "social"] | None = (
        None
    )
    completed_at: datetime | None = None


class UserProfile(msgspec.Struct, kw_only=True):
    display_name: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    username: Annotated[str, msgspec.Meta(max_length=100)] | None = None


def ms(value: datetime) -> datetime:
    """UTC with millisecond precision, as MongoDB will store it (so replays compare equal)."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _user(event: Envelope) -> str:
    if not event.user_id:
        raise ValueError(f"{event.type} {event.id} has no user_id")
    return event.user_id


class Handlers:
    def __init__(self, wallets: WalletStore, profiles: Profiles) -> None:
        self.wallets = wallets
        self.profiles = profiles

    async def tasks(self, event: Envelope) -> None:
        if event.type != "task.completed":
            return
        await self.task_completed(event)

    async def task_completed(self, event: Envelope) -> None:
        user_id = _user(event)
        data = msgspec.convert(event.data, TaskCompleted, strict=False)
        streak = data.streak or Streak()
        facts = TaskFacts(
            task_id=data.task_id,
            kind=data.kind,
            difficulty=data.difficulty,
            priority=data.priority,
            completed_at=ms(data.completed_at),
            on_time=data.on_time,
            estimated_minutes=data.estimated_minutes,
            actual_minutes=data.actual_minutes,
            streak_current=streak.current,
            streak_best=streak.best,
            habit_direction=data.habit_direction,
        )
        state = await self.wallets.current(user_id)
        reward = rewards.task_reward(
            rewards.TaskCompletion(
                task_id=facts.task_id,
                kind=facts.kind,
                difficulty=facts.difficulty,
                priority=facts.priority,
                completed_at=facts.completed_at,
                on_time=facts.on_time,
                estimated_minutes=facts.estimated_minutes,
                actual_minutes=facts.actual_minutes,
                streak_current=facts.streak_current,
                habit_direction=facts.habit_direction,
            ),
            recent_completions(state),
        )
        ref = {"event_id": event.id, "task_id": data.task_id}
        if data.completion_id:
            ref["completion_id"] = data.completion_id
        await self.wallets.record(
            user_id,
            Draft(
                key=rewards.credit_key(data.kind, data.task_id, data.completion_id, event.id),
                kind="task",
                amounts=reward.amounts,
                reason=f"{data.kind} completed",
                ref=ref,
                factors=reward.factors,
                task=facts,
            ),
            state=state,
        )

    async def challenges(self, event: Envelope) -> None:
        if event.type != "challenge.completed":
            return
        user_id = _user(event)
        data = msgspec.convert(event.data, ChallengeCompleted, strict=False)
        reward = rewards.challenge_reward(data.difficulty, data.points, data.passed)
        await self.wallets.record(
            user_id,
            Draft(
                key=f"challenge:{user_id}:{data.challenge_id}",
                kind="challenge",
                amounts=reward.amounts,
                reason="challenge passed" if data.passed else "challenge attempted",
                ref={"event_id": event.id, "challenge_id": data.challenge_id},
                challenge=ChallengeFacts(
                    challenge_id=data.challenge_id,
                    difficulty=data.difficulty,
                    passed=data.passed,
                    category=data.category,
                ),
            ),
        )

    async def users(self, event: Envelope) -> None:
        if event.type not in ("user.registered", "user.updated"):
            return
        user_id = event.data.get("user_id") or _user(event)
        profile = msgspec.convert(event.data, UserProfile, strict=False)
        name = profile.display_name or profile.username
        if name is not None or "display_name" in event.data:
            await self.profiles.set_name(str(user_id), name, ms(event.occurred_at))
