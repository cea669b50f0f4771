"""What a completed task or challenge pays. One pure function each, documented factor by factor.

Task reward (XP; coins are half the XP, rounded half up)::

    xp = base[difficulty] x priority x timeliness x streak x effort x estimate x repeats

* ``base``: trivial 5, easy 10, medium 20, hard 40 (Habitica's "harder pays more").
* ``priority``: low 0.9, normal 1.0, high 1.2, urgent 1.5.
* ``timeliness``: on time 1.2, late 0.8, no due date 1.0.
* ``streak``: +2 % per day of the task's current streak, at most +50 % (25 days).
* ``effort``: ``1 + 0.25·log2(minutes / 30)`` clamped to [0.75, 1.5], from the smaller of the
  estimated and actual minutes (so inflating an estimate alone earns nothing); 1.0 if neither.
* ``estimate``: x1.1 when both are known and actual/estimated is within [0.8, 1.25].
* ``repeats`` (anti-farming): x0.5 for every earlier completion of the *same task* in the hour
  before this one — 1, ½, ¼, … so a script re-completing a habit earns nothing after a few
  tries (amounts round to 0).
* A habit scored *down* (a bad habit) pays nothing.
* Stars: 1 for a hard task done on time on its first completion within the hour.
* Cap: at most 150 XP per completion (the factors could reach 178).

Challenge reward: the challenge's points as XP (capped by difficulty: easy 150, medium 375,
hard 750, very_hard 1500 — the seed's points x 1.5), a tenth of that as coins, tokens by
difficulty (1, 2, 3, 5). Failed challenges pay nothing. One reward per challenge per user.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol

from deepiri_kit.contracts.challenges import ChallengeCompleted

Kind = Literal["todo", "daily", "habit"]
Difficulty = Literal["trivial", "easy", "medium", "hard"]
Priority = Literal["low", "normal", "high", "urgent"]
ChallengeDifficulty = Literal["easy", "medium", "hard", "very_hard"]

BASE_XP: Final[Mapping[str, int]] = {"trivial": 5, "easy": 10, "medium": 20, "hard": 40}
PRIORITY: Final[Mapping[str, float]] = {"low": 0.9, "normal": 1.0, "high": 1.2, "urgent": 1.5}
ON_TIME, LATE = 1.2, 0.8
STREAK_STEP, STREAK_MAX_DAYS = 0.02, 25
EFFORT_MIN, EFFORT_MAX, EFFORT_PIVOT_MINUTES = 0.75, 1.5, 30
ESTIMATE_BONUS, ESTIMATE_BAND = 1.1, (0.8, 1.25)
REPEAT_WINDOW: Final = timedelta(hours=1)
REPEAT_DECAY = 0.5
MAX_TASK_XP = 150
CHALLENGE_XP_CAP: Final[Mapping[str, int]] = {
    "easy": 150,
    "medium": 375,
    "hard": 750,
    "very_hard": 1500,
}
CHALLENGE_TOKENS: Final[Mapping[str, int]] = {"easy": 1, "medium": 2, "hard": 3, "very_hard": 5}


class Completion(Protocol):
    """What a task's reward depends on: the facts a ledger entry records about its task
    (``wallet.TaskFacts``)."""

    @property
    def task_id(self) -> str: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def difficulty(self) -> Difficulty: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def completed_at(self) -> datetime: ...
    @property
    def on_time(self) -> bool | None: ...
    @property
    def estimated_minutes(self) -> int | None: ...
    @property
    def actual_minutes(self) -> int | None: ...
    @property
    def streak_current(self) -> int: ...
    @property
    def habit_direction(self) -> Literal["up", "down"] | None: ...


@dataclass(frozen=True)
class RecentCompletion:
    task_id: str
    at: datetime


@dataclass(frozen=True)
class Reward:
    amounts: dict[str, int]
    factors: dict[str, float] = field(default_factory=dict)
    repeats: int = 0


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def credit_key(kind: str, task_id: str, completion_id: str | None, event_id: str) -> str:
    """The idempotency key of a task's reward: what may be paid at most once.

    A todo pays once in its life (complete → reopen → complete is not a new reward); a daily
    once per scheduled period (its completion id names the period); each habit tap pays on its
    own, damped by ``repeats``. Re-delivered events share their event id and so pay nothing.
    """
    if kind == "todo":
        return f"task.completed:todo:{task_id}"
    if kind == "daily" and completion_id:
        return f"task.completed:daily:{completion_id}"
    return f"task.completed:{event_id}"


def repeats(task_id: str, at: datetime, recent: Sequence[RecentCompletion]) -> int:
    """Earlier completions of the same task within REPEAT_WINDOW before ``at``."""
    return sum(1 for r in recent if r.task_id == task_id and at - REPEAT_WINDOW <= r.at < at)


def effort_factor(estimated: int | None, actual: int | None) -> float:
    known = [m for m in (estimated, actual) if m is not None and m > 0]
    if not known:
        return 1.0
    minutes = min(known)
    raw = 1 + 0.25 * math.log2(minutes / EFFORT_PIVOT_MINUTES)
    return min(EFFORT_MAX, max(EFFORT_MIN, raw))


def estimate_factor(estimated: int | None, actual: int | None) -> float:
    if not estimated or not actual or estimated <= 0 or actual <= 0:
        return 1.0
    low, high = ESTIMATE_BAND
    return ESTIMATE_BONUS if low <= actual / estimated <= high else 1.0


def task_reward(c: Completion, recent: Sequence[RecentCompletion]) -> Reward:
    n = repeats(c.task_id, c.completed_at, recent)
    if c.kind == "habit" and c.habit_direction == "down":
        return Reward(amounts={}, factors={"habit_down": 0.0}, repeats=n)
    factors = {
        "base": float(BASE_XP[c.difficulty]),
        "priority": PRIORITY[c.priority],
        "timeliness": 1.0 if c.on_time is None else (ON_TIME if c.on_time else LATE),
        "streak": 1 + STREAK_STEP * min(max(c.streak_current, 0), STREAK_MAX_DAYS),
        "effort": round(effort_factor(c.estimated_minutes, c.actual_minutes), 4),
        "estimate": estimate_factor(c.estimated_minutes, c.actual_minutes),
        "repeats": REPEAT_DECAY**n,
    }
    raw = math.prod(factors.values())
    xp = min(MAX_TASK_XP, round_half_up(raw))
    coins = round_half_up(xp * 0.5)
    stars = 1 if c.difficulty == "hard" and c.on_time is True and n == 0 else 0
    amounts = {k: v for k, v in (("xp", xp), ("coins", coins), ("stars", stars)) if v > 0}
    return Reward(amounts=amounts, factors=factors, repeats=n)


def challenge_reward(difficulty: ChallengeDifficulty, points: int, passed: bool) -> Reward:
    if not passed or points <= 0:
        return Reward(amounts={})
    xp = min(points, CHALLENGE_XP_CAP[difficulty])
    amounts = {
        "xp": xp,
        "coins": round_half_up(xp / 10),
        "tokens": CHALLENGE_TOKENS[difficulty],
    }
    return Reward(amounts={k: v for k, v in amounts.items() if v > 0})


def challenge_match(user_id: str, event: ChallengeCompleted) -> list[tuple[tuple[str, ...], int]]:
    """A duel's or a group's result as rated-match teams, in one canonical order (every
    player's event yields the same teams, so the match is recorded once): a decisive duel is
    an Elo match, a drawn duel and a group ranking OpenSkill ones (``domain/ratings.py``).
    Solo and streak challenges are no match: empty."""
    if event.opponent is not None:
        mine = {"win": 1, "loss": 2, "draw": 1}[event.opponent.outcome]
        theirs = {"win": 2, "loss": 1, "draw": 1}[event.opponent.outcome]
        teams = [((user_id,), mine), ((event.opponent.user_id,), theirs)]
    elif event.ranking is not None and len(event.ranking) >= 2:
        teams = [((s.user_id,), s.rank) for s in event.ranking]
    else:
        return []
    return sorted(teams, key=lambda team: (team[1], team[0]))
