"""What badge rules are evaluated against, assembled from a wallet and its ratings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gamification_service.domain.badges import Facts
from gamification_service.domain.wallet import WalletState


@dataclass(frozen=True)
class RatingFacts:
    rating: float
    wins: int = 0
    losses: int = 0
    draws: int = 0
    best_win_streak: int = 0


def facts_for(state: WalletState, ratings: Mapping[str, RatingFacts] | None = None) -> Facts:
    values: dict[str, float] = {name: float(v) for name, v in state.stats.items()}
    values["level"] = state.level
    values["xp"] = state.balances.get("xp", 0)
    for currency, amount in state.balances.items():
        values[f"balance.{currency}"] = amount
    for currency, amount in state.earned.items():
        values[f"earned.{currency}"] = amount
    values["streak.activity"] = state.activity.best
    values["streak.task"] = state.stats.get("best_task_streak", 0)
    for window, best in state.best.items():
        values[f"window.{window}"] = best
    values["badges_earned"] = len(state.badges)
    ratings = ratings or {}
    for category, r in ratings.items():
        values[f"rating.{category}"] = r.rating
    values["rating.max"] = max((r.rating for r in ratings.values()), default=0.0)
    values["matches_won"] = sum(r.wins for r in ratings.values())
    values["matches_lost"] = sum(r.losses for r in ratings.values())
    values["matches_drawn"] = sum(r.draws for r in ratings.values())
    values["matches_played"] = sum(r.wins + r.losses + r.draws for r in ratings.values())
    values["streak.win"] = max((r.best_win_streak for r in ratings.values()), default=0)
    return Facts(values=values, badges=frozenset(state.badges))


# Every name a badge rule may read; the catalog is checked against it so a typo cannot
# create a badge nobody can earn.
KNOWN_COUNTERS = frozenset(
    {
        "tasks_completed",
        "todos_completed",
        "dailies_completed",
        "habits_completed",
        "trivial_completed",
        "easy_completed",
        "medium_completed",
        "hard_completed",
        "on_time_completed",
        "late_completed",
        "urgent_completed",
        "urgent_on_time",
        "early_bird",
        "night_owl",
        "weekend_completed",
        "accurate_estimates",
        "deep_work",
        "habit_up",
        "habit_down",
        "best_task_streak",
        "challenges_completed",
        "challenges_passed",
        "challenges_easy",
        "challenges_medium",
        "challenges_hard",
        "challenges_very_hard",
        "challenge_duels_won",
        "challenge_groups_won",
        "spends",
        "conversions",
        "badges_earned",
        "matches_won",
        "matches_lost",
        "matches_drawn",
        "matches_played",
        *(f"spent_{c}" for c in ("coins", "gems", "energy", "tokens", "stars")),
    }
)


def known_metric(name: str) -> bool:
    if name in KNOWN_COUNTERS or name in ("level", "xp", "rating.max"):
        return True
    prefix, _, rest = name.partition(".")
    return bool(rest) and prefix in ("balance", "earned", "rating", "streak", "window")
