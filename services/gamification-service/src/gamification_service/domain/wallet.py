"""The wallet as a deterministic fold over the ledger.

Every credit and debit is a ledger entry with a per-user sequence number. The wallet
document stores ``apply(apply(initial(), e1), e2)…`` up to the last applied sequence number,
so the ledger alone determines every balance, counter, streak and earned badge: a wallet
can always be rebuilt (and checked) by replaying its ledger from the start.

Rules applied here, in order, for an entry stamped ``at``:

1. Energy regenerates up to ``at`` (1 per minute, capped at 100).
2. Debits: every negative amount must be covered by the balance, otherwise the whole entry
   is *rejected* (nothing changes but the sequence number): balances never go below zero.
3. Amounts are added; energy credits stop at the cap. Positive amounts count as *earned*
   (overall and in the current day / week / month, which feed the leaderboards).
4. Kind-specific facts update counters (tasks, challenges, spends…), the activity streak
   (consecutive UTC days with a completion), the recent completions used against farming,
   and earned badges.
5. The level follows the XP balance; a higher level is reported as a level-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

import msgspec

from deepiri_kit.clock import stored_time
from deepiri_kit.contracts.challenges import ChallengeCompleted
from deepiri_kit.contracts.tasks import Streak, TaskCompleted
from gamification_service.domain import energy as energy_rules
from gamification_service.domain.currencies import CURRENCIES
from gamification_service.domain.levels import level_for_xp
from gamification_service.domain.periods import TIMED, period_key
from gamification_service.domain.rewards import (
    REPEAT_WINDOW,
    RecentCompletion,
    estimate_factor,
)

EntryKind = Literal["task", "challenge", "badge", "spend", "convert", "grant"]
Outcome = Literal["applied", "rejected"]
RECENT_MAX: Final = 100
KIND_COUNTER: Final = {
    "todo": "todos_completed",
    "daily": "dailies_completed",
    "habit": "habits_completed",
}


class TaskFacts(msgspec.Struct, kw_only=True):
    """What a ledger entry records about the completed task it pays (the fold's input)."""

    task_id: str
    kind: Literal["todo", "daily", "habit"]
    difficulty: Literal["trivial", "easy", "medium", "hard"]
    priority: Literal["low", "normal", "high", "urgent"]
    completed_at: datetime
    on_time: bool | None = None
    estimated_minutes: int | None = None
    actual_minutes: int | None = None
    streak_current: int = 0
    streak_best: int = 0
    habit_direction: Literal["up", "down"] | None = None

    @classmethod
    def of(cls, event: TaskCompleted) -> TaskFacts:
        streak = event.streak or Streak()
        return cls(
            task_id=event.task_id,
            kind=event.kind,
            difficulty=event.difficulty,
            priority=event.priority,
            completed_at=stored_time(event.completed_at),
            on_time=event.on_time,
            estimated_minutes=event.estimated_minutes,
            actual_minutes=event.actual_minutes,
            streak_current=streak.current,
            streak_best=streak.best,
            habit_direction=event.habit_direction,
        )


class ChallengeFacts(msgspec.Struct, kw_only=True):
    challenge_id: str
    difficulty: Literal["easy", "medium", "hard", "very_hard"]
    passed: bool = True
    category: str | None = None
    # Added with duels and groups (older entries have none): how this player placed.
    kind: str | None = None
    outcome: str | None = None
    rank: int | None = None

    @classmethod
    def of(cls, event: ChallengeCompleted, user_id: str | None = None) -> ChallengeFacts:
        rank = next((s.rank for s in event.ranking or () if s.user_id == user_id), None)
        return cls(
            challenge_id=event.challenge_id,
            difficulty=event.difficulty,
            passed=event.passed,
            category=event.category,
            kind=event.kind,
            # A duel forfeited by an erased account names no opponent, only the outcome.
            outcome=event.opponent.outcome if event.opponent is not None else event.outcome,
            rank=rank,
        )


class Entry(msgspec.Struct, kw_only=True):
    """What the fold needs from a ledger entry."""

    seq: int
    key: str
    kind: EntryKind
    amounts: dict[str, int]
    at: datetime
    task: TaskFacts | None = None
    challenge: ChallengeFacts | None = None
    badge: str | None = None


class Draft(msgspec.Struct, kw_only=True):
    """A ledger entry before it has a sequence number."""

    key: str
    kind: EntryKind
    amounts: dict[str, int]
    reason: str = ""
    ref: dict[str, str] = msgspec.field(default_factory=dict)
    factors: dict[str, float] = msgspec.field(default_factory=dict)
    task: TaskFacts | None = None
    challenge: ChallengeFacts | None = None
    badge: str | None = None


class Recent(msgspec.Struct):
    task_id: str
    at: datetime


class PeriodTotals(msgspec.Struct, kw_only=True):
    key: str
    xp: int = 0
    coins: int = 0
    tasks: int = 0


class Activity(msgspec.Struct, kw_only=True):
    last_day: str | None = None
    current: int = 0
    best: int = 0


def _balances() -> dict[str, int]:
    return {c: (energy_rules.ENERGY_MAX if c == "energy" else 0) for c in CURRENCIES}


class WalletState(msgspec.Struct, kw_only=True):
    seq: int = 0
    balances: dict[str, int] = msgspec.field(default_factory=_balances)
    energy_at: datetime | None = None
    earned: dict[str, int] = msgspec.field(default_factory=dict)
    stats: dict[str, int] = msgspec.field(default_factory=dict)
    recent: list[Recent] = msgspec.field(default_factory=list)
    periods: dict[str, PeriodTotals] = msgspec.field(default_factory=dict)
    best: dict[str, int] = msgspec.field(default_factory=dict)
    activity: Activity = msgspec.field(default_factory=Activity)
    badges: dict[str, datetime] = msgspec.field(default_factory=dict)
    level: int = 1


@dataclass(frozen=True)
class Applied:
    state: WalletState
    outcome: Outcome
    credited: dict[str, int] = field(default_factory=dict)
    debited: dict[str, int] = field(default_factory=dict)
    level_before: int = 1
    level_after: int = 1
    badge: str | None = None
    reason: str = ""

    @property
    def leveled_up(self) -> bool:
        return self.level_after > self.level_before


def initial() -> WalletState:
    return WalletState()


def energy_now(state: WalletState, now: datetime) -> tuple[int, datetime]:
    value = state.balances.get("energy", energy_rules.ENERGY_MAX)
    anchor = state.energy_at or now
    return energy_rules.regenerate(value, anchor, now)


def recent_completions(state: WalletState) -> list[RecentCompletion]:
    return [RecentCompletion(r.task_id, r.at) for r in state.recent]


def apply(state: WalletState, entry: Entry) -> Applied:
    """The next state after ``entry``; ``entry.seq`` must be ``state.seq + 1``."""
    if entry.seq != state.seq + 1:
        raise ValueError(f"entry {entry.seq} does not follow state {state.seq}")
    new = msgspec.structs.replace(
        state,
        seq=entry.seq,
        balances=dict(state.balances),
        earned=dict(state.earned),
        stats=dict(state.stats),
        recent=list(state.recent),
        periods=dict(state.periods),
        best=dict(state.best),
        activity=msgspec.structs.replace(state.activity),
        badges=dict(state.badges),
    )
    energy, anchor = energy_now(state, entry.at)
    for currency, amount in entry.amounts.items():
        available = energy if currency == "energy" else new.balances.get(currency, 0)
        if currency not in CURRENCIES or (amount < 0 and available < -amount):
            rejected = msgspec.structs.replace(state, seq=entry.seq)
            why = (
                f"unknown currency {currency}"
                if currency not in CURRENCIES
                else f"insufficient {currency}: needed {-amount}, available {available}"
            )
            return Applied(
                rejected, "rejected", level_before=state.level, level_after=state.level, reason=why
            )

    credited: dict[str, int] = {}
    debited: dict[str, int] = {}
    for currency, amount in entry.amounts.items():
        if amount == 0:
            continue
        if currency == "energy":
            energy = min(energy_rules.ENERGY_MAX, max(0, energy + amount))
        else:
            new.balances[currency] = new.balances.get(currency, 0) + amount
        if amount > 0:
            credited[currency] = amount
            new.earned[currency] = new.earned.get(currency, 0) + amount
        else:
            debited[currency] = -amount
    new.balances["energy"] = energy
    new.energy_at = anchor

    _count_periods(new, entry, credited)
    if entry.task is not None:
        _count_task(new, entry.task)
    if entry.challenge is not None:
        _bump(new.stats, "challenges_completed")
        if entry.challenge.passed:
            _bump(new.stats, "challenges_passed")
            _bump(new.stats, f"challenges_{entry.challenge.difficulty}")
        if entry.challenge.kind == "duel" and entry.challenge.outcome == "win":
            _bump(new.stats, "challenge_duels_won")
        if entry.challenge.kind == "group" and entry.challenge.rank == 1:
            _bump(new.stats, "challenge_groups_won")
    if entry.kind == "spend":
        _bump(new.stats, "spends")
        for currency, amount in debited.items():
            _bump(new.stats, f"spent_{currency}", amount)
    if entry.kind == "convert":
        _bump(new.stats, "conversions")
    if entry.badge is not None and entry.badge not in new.badges:
        new.badges[entry.badge] = entry.at
        _bump(new.stats, "badges_earned")

    new.level = level_for_xp(new.balances.get("xp", 0))
    return Applied(
        new,
        "applied",
        credited=credited,
        debited=debited,
        level_before=state.level,
        level_after=new.level,
        badge=entry.badge,
    )


def replay(entries: list[Entry]) -> tuple[WalletState, list[Outcome]]:
    """Fold a whole ledger (sorted by seq) from the initial state."""
    state = initial()
    outcomes: list[Outcome] = []
    for entry in entries:
        result = apply(state, entry)
        state = result.state
        outcomes.append(result.outcome)
    return state, outcomes


def applied_sums(entries: list[Entry], outcomes: list[Outcome]) -> dict[str, int]:
    """Per currency, the sum of the applied entries' amounts (what a balance must equal,
    energy aside: it regenerates with time)."""
    sums: dict[str, int] = {}
    for entry, outcome in zip(entries, outcomes, strict=True):
        if outcome == "applied":
            for currency, amount in entry.amounts.items():
                sums[currency] = sums.get(currency, 0) + amount
    return sums


def _bump(counters: dict[str, int], name: str, by: int = 1) -> None:
    counters[name] = counters.get(name, 0) + by


def _count_periods(state: WalletState, entry: Entry, credited: dict[str, int]) -> None:
    is_task = entry.task is not None
    for period in TIMED:
        key = period_key(period, entry.at)
        current = state.periods.get(period)
        if current is None or key > current.key:
            current = PeriodTotals(key=key)
        elif key < current.key:
            continue  # a late entry from a closed period: the current totals stay as they are
        else:
            current = msgspec.structs.replace(current)
        current.xp += credited.get("xp", 0)
        current.coins += credited.get("coins", 0)
        current.tasks += int(is_task)
        state.periods[period] = current
        state.best[period] = max(state.best.get(period, 0), current.tasks)


def _count_task(state: WalletState, task: TaskFacts) -> None:
    stats = state.stats
    _bump(stats, "tasks_completed")
    _bump(stats, KIND_COUNTER[task.kind])
    _bump(stats, f"{task.difficulty}_completed")
    if task.on_time is True:
        _bump(stats, "on_time_completed")
    elif task.on_time is False:
        _bump(stats, "late_completed")
    if task.priority == "urgent":
        _bump(stats, "urgent_completed")
        if task.on_time is True:
            _bump(stats, "urgent_on_time")
    hour = task.completed_at.hour
    if 4 <= hour < 7:
        _bump(stats, "early_bird")
    if hour >= 23 or hour < 4:
        _bump(stats, "night_owl")
    if task.completed_at.weekday() >= 5:
        _bump(stats, "weekend_completed")
    if estimate_factor(task.estimated_minutes, task.actual_minutes) > 1.0:
        _bump(stats, "accurate_estimates")
    if task.actual_minutes is not None and task.actual_minutes >= 90:
        _bump(stats, "deep_work")
    if task.kind == "habit":
        _bump(stats, "habit_down" if task.habit_direction == "down" else "habit_up")
    stats["best_task_streak"] = max(
        stats.get("best_task_streak", 0), task.streak_best, task.streak_current
    )

    # Consecutive UTC days with at least one completion.
    day = task.completed_at.date()
    key = day.isoformat()
    activity = state.activity
    if activity.last_day is None or key > activity.last_day:
        yesterday = (day - timedelta(days=1)).isoformat()
        activity.current = activity.current + 1 if activity.last_day == yesterday else 1
        activity.last_day = key
        activity.best = max(activity.best, activity.current)

    # Recent completions of each task, for diminishing returns; only the last hour matters.
    recent = [*state.recent, Recent(task.task_id, task.completed_at)]
    newest = max(r.at for r in recent)
    state.recent = [r for r in recent if r.at >= newest - REPEAT_WINDOW][-RECENT_MAX:]
