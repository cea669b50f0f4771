"""The badge catalog — plain data, validated by :func:`badges.load` at import.

Adding a definition here is all it takes: on start-up the service notices the new id and
backfills it for every user from their recorded stats (``backfill-badges`` does it by hand).
Rewards default to the rarity's (see ``RARITY_REWARD``).
"""

from __future__ import annotations

from typing import Any, Final

from gamification_service.domain.badges import BadgeDef, load


def _tier(
    family: str, name: str, counter: str, levels: list[tuple[int, str]], **kw: Any
) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{family}-{n}",
            "name": f"{name} {('I', 'II', 'III', 'IV', 'V', 'VI')[i]}",
            "description": kw.get("description", "").format(n=n),
            "category": kw.get("category", "tasks"),
            "rarity": rarity,
            "family": family,
            "tier": i + 1,
            "rule": {
                "type": kw.get("rule_type", "counter"),
                kw.get("field", "counter"): counter,
                "at_least": n,
            },
        }
        for i, (n, rarity) in enumerate(levels)
    ]


RAW: Final[list[dict[str, Any]]] = [
    # --- tasks: counters in tiers ----------------------------------------------------------
    *_tier(
        "tasks",
        "Task Slayer",
        "tasks_completed",
        [(1, "common"), (10, "common"), (100, "uncommon"), (1000, "rare"), (10000, "legendary")],
        description="Complete {n} task(s).",
    ),
    *_tier(
        "hard",
        "Brave",
        "hard_completed",
        [(1, "common"), (25, "uncommon"), (250, "epic")],
        description="Complete {n} hard task(s).",
    ),
    *_tier(
        "punctual",
        "Punctual",
        "on_time_completed",
        [(10, "common"), (100, "rare")],
        description="Finish {n} tasks before they are due.",
    ),
    *_tier(
        "dailies",
        "Creature of Habit",
        "dailies_completed",
        [(30, "uncommon"), (365, "epic")],
        description="Complete {n} dailies.",
    ),
    *_tier(
        "habits",
        "Good Habits",
        "habit_up",
        [(50, "uncommon"), (500, "rare")],
        description="Score {n} good habits.",
    ),
    {
        "id": "firefighter",
        "name": "Firefighter",
        "description": "Finish 10 urgent tasks on time.",
        "category": "tasks",
        "rarity": "rare",
        "rule": {"type": "counter", "counter": "urgent_on_time", "at_least": 10},
    },
    {
        "id": "clairvoyant",
        "name": "Clairvoyant",
        "description": "Estimate 20 tasks within 20 % of the time they really took.",
        "category": "tasks",
        "rarity": "rare",
        "rule": {"type": "counter", "counter": "accurate_estimates", "at_least": 20},
    },
    {
        "id": "deep-work",
        "name": "Deep Work",
        "description": "Complete 10 tasks that took 90 minutes or more.",
        "category": "tasks",
        "rarity": "uncommon",
        "rule": {"type": "counter", "counter": "deep_work", "at_least": 10},
    },
    {
        "id": "early-bird",
        "name": "Early Bird",
        "description": "Complete 10 tasks between 04:00 and 07:00 UTC.",
        "category": "tasks",
        "rarity": "uncommon",
        "rule": {"type": "counter", "counter": "early_bird", "at_least": 10},
    },
    {
        "id": "weekend-warrior",
        "name": "Weekend Warrior",
        "description": "Complete 20 tasks on weekends.",
        "category": "tasks",
        "rarity": "uncommon",
        "rule": {"type": "counter", "counter": "weekend_completed", "at_least": 20},
    },
    {
        "id": "all-rounder",
        "name": "All-Rounder",
        "description": "Complete 10 todos, 10 dailies and 10 habits.",
        "category": "tasks",
        "rarity": "uncommon",
        "rule": {
            "type": "all",
            "rules": [
                {"type": "counter", "counter": "todos_completed", "at_least": 10},
                {"type": "counter", "counter": "dailies_completed", "at_least": 10},
                {"type": "counter", "counter": "habits_completed", "at_least": 10},
            ],
        },
    },
    # --- time windows ----------------------------------------------------------------------
    {
        "id": "busy-day",
        "name": "Busy Day",
        "description": "Complete 10 tasks in one day.",
        "category": "tasks",
        "rarity": "uncommon",
        "rule": {"type": "window", "window": "day", "at_least": 10},
    },
    {
        "id": "marathon-day",
        "name": "Marathon",
        "description": "Complete 25 tasks in one day.",
        "category": "tasks",
        "rarity": "rare",
        "rule": {"type": "window", "window": "day", "at_least": 25},
    },
    {
        "id": "productive-week",
        "name": "Productive Week",
        "description": "Complete 50 tasks in one ISO week.",
        "category": "tasks",
        "rarity": "rare",
        "rule": {"type": "window", "window": "week", "at_least": 50},
    },
    {
        "id": "monthly-machine",
        "name": "Monthly Machine",
        "description": "Complete 200 tasks in one month.",
        "category": "tasks",
        "rarity": "epic",
        "rule": {"type": "window", "window": "month", "at_least": 200},
    },
    # --- streaks ---------------------------------------------------------------------------
    *_tier(
        "streak",
        "On Fire",
        "task",
        [(3, "common"), (7, "uncommon"), (30, "rare"), (100, "epic"), (365, "mythic")],
        description="Keep a task's streak going for {n} days.",
        category="streaks",
        rule_type="streak",
        field="streak",
    ),
    *_tier(
        "active",
        "Showing Up",
        "activity",
        [(7, "uncommon"), (30, "rare")],
        description="Complete something {n} days in a row.",
        category="streaks",
        rule_type="streak",
        field="streak",
    ),
    # --- levels and wealth -----------------------------------------------------------------
    *_tier(
        "level",
        "Climber",
        "level",
        [(5, "common"), (10, "uncommon"), (25, "rare"), (50, "epic"), (100, "legendary")],
        description="Reach level {n}.",
        category="levels",
        rule_type="threshold",
        field="metric",
    ),
    {
        "id": "saver",
        "name": "Saver",
        "description": "Hold 1,000 coins at once.",
        "category": "wealth",
        "rarity": "uncommon",
        "rule": {"type": "threshold", "metric": "balance.coins", "at_least": 1000},
    },
    {
        "id": "tycoon",
        "name": "Tycoon",
        "description": "Earn 10,000 coins in total.",
        "category": "wealth",
        "rarity": "rare",
        "rule": {"type": "threshold", "metric": "earned.coins", "at_least": 10000},
    },
    {
        "id": "big-spender",
        "name": "Big Spender",
        "description": "Spend 5,000 coins.",
        "category": "wealth",
        "rarity": "rare",
        "rule": {"type": "counter", "counter": "spent_coins", "at_least": 5000},
    },
    {
        "id": "alchemist",
        "name": "Alchemist",
        "description": "Convert currencies 10 times.",
        "category": "wealth",
        "rarity": "uncommon",
        "rule": {"type": "counter", "counter": "conversions", "at_least": 10},
    },
    # --- challenges ------------------------------------------------------------------------
    *_tier(
        "challenges",
        "Challenger",
        "challenges_passed",
        [(1, "common"), (10, "uncommon"), (50, "rare")],
        description="Pass {n} challenge(s).",
        category="challenges",
    ),
    {
        "id": "very-hard-challenge",
        "name": "Against All Odds",
        "description": "Pass a very hard challenge.",
        "category": "challenges",
        "rarity": "epic",
        "rule": {"type": "counter", "counter": "challenges_very_hard", "at_least": 1},
    },
    *_tier(
        "duelist",
        "Duelist",
        "challenge_duels_won",
        [(1, "uncommon"), (10, "rare")],
        description="Win {n} challenge duel(s) against a friend.",
        category="challenges",
    ),
    {
        "id": "top-of-the-group",
        "name": "Top of the Group",
        "description": "Finish first in a group challenge.",
        "category": "challenges",
        "rarity": "rare",
        "rule": {"type": "counter", "counter": "challenge_groups_won", "at_least": 1},
    },
    # --- ratings ---------------------------------------------------------------------------
    *_tier(
        "wins",
        "Victor",
        "matches_won",
        [(1, "common"), (10, "uncommon"), (100, "epic")],
        description="Win {n} rated match(es).",
        category="ratings",
    ),
    {
        "id": "rising-star",
        "name": "Rising Star",
        "description": "Reach a 1600 rating in any category.",
        "category": "ratings",
        "rarity": "rare",
        "rule": {"type": "threshold", "metric": "rating.max", "at_least": 1600},
    },
    {
        "id": "grandmaster",
        "name": "Grandmaster",
        "description": "Reach a 2000 overall rating.",
        "category": "ratings",
        "rarity": "legendary",
        "rule": {"type": "threshold", "metric": "rating.overall", "at_least": 2000},
    },
    {
        "id": "unstoppable",
        "name": "Unstoppable",
        "description": "Win 5 rated matches in a row.",
        "category": "ratings",
        "rarity": "rare",
        "rule": {"type": "streak", "streak": "win", "at_least": 5},
    },
    # --- meta and secret ---------------------------------------------------------------------
    {
        "id": "renaissance",
        "name": "Renaissance",
        "description": "100 tasks, 10 challenges passed and 10 rated wins.",
        "category": "meta",
        "rarity": "epic",
        "rule": {
            "type": "all",
            "rules": [
                {"type": "counter", "counter": "tasks_completed", "at_least": 100},
                {"type": "counter", "counter": "challenges_passed", "at_least": 10},
                {"type": "counter", "counter": "matches_won", "at_least": 10},
            ],
        },
    },
    *_tier(
        "collector",
        "Collector",
        "badges_earned",
        [(10, "rare"), (25, "legendary")],
        description="Earn {n} badges.",
        category="meta",
    ),
    {
        "id": "night-owl",
        "name": "Night Owl",
        "description": "Complete a task between 23:00 and 04:00 UTC.",
        "category": "tasks",
        "rarity": "common",
        "secret": True,
        "rule": {"type": "counter", "counter": "night_owl", "at_least": 1},
    },
    {
        "id": "day-and-night",
        "name": "Around the Clock",
        "description": "Be an early bird or a true night owl (50 tasks either way).",
        "category": "meta",
        "rarity": "rare",
        "secret": True,
        "rule": {
            "type": "any",
            "rules": [
                {"type": "counter", "counter": "early_bird", "at_least": 50},
                {"type": "counter", "counter": "night_owl", "at_least": 50},
            ],
        },
    },
    {
        "id": "redemption",
        "name": "Redemption",
        "description": "Own up to a bad habit 10 times and score 10 good ones.",
        "category": "meta",
        "rarity": "uncommon",
        "secret": True,
        "rule": {
            "type": "all",
            "rules": [
                {"type": "counter", "counter": "habit_down", "at_least": 10},
                {"type": "counter", "counter": "habit_up", "at_least": 10},
            ],
        },
    },
    {
        "id": "completionist",
        "name": "Completionist",
        "description": "Hold Task Slayer IV, On Fire IV and Climber IV.",
        "category": "meta",
        "rarity": "mythic",
        "secret": True,
        "rule": {"type": "badges", "badges": ["tasks-1000", "streak-100", "level-50"]},
    },
]

BADGES: Final[list[BadgeDef]] = load(RAW)
BY_ID: Final[dict[str, BadgeDef]] = {b.id: b for b in BADGES}
