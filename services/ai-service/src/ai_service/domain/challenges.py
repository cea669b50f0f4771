"""Challenge generation's rules: what the model is asked to fill in (:class:`ChallengeDraft`),
how a draft becomes the platform's :class:`GeneratedChallenge`, and the deterministic
fallback that answers from the same inputs when no model does."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import msgspec

from ai_service.domain.keywords import classify
from deepiri_kit.contracts.agent import (
    GOAL_TARGETS,
    REWARD_RANGE,
    AnsweredBy,
    Category,
    ChallengeKind,
    ChallengeRequest,
    Difficulty,
    GeneratedChallenge,
    Goal,
    Metric,
    Milestone,
    challenge_violations,
)

# The seed's points per difficulty (domain.md); the middle of each range.
BASE_POINTS: dict[Difficulty, int] = {"easy": 100, "medium": 250, "hard": 500, "very_hard": 1000}
# How much work each difficulty asks, and in how long.
TASK_TARGET: dict[Difficulty, int] = {"easy": 3, "medium": 5, "hard": 8, "very_hard": 12}
STREAK_DAYS: dict[Difficulty, int] = {"easy": 3, "medium": 5, "hard": 7, "very_hard": 14}
HOURS: dict[Difficulty, int] = {"easy": 48, "medium": 72, "hard": 96, "very_hard": 168}
SKILL_XP: dict[Difficulty, int] = {"easy": 150, "medium": 300, "hard": 600, "very_hard": 1200}


class ChallengeDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the model answers (its JSON schema is the structured-output format). The kind,
    who answered and the prompt version are the service's to add, never the model's."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    difficulty: Difficulty
    category: Category
    reward_points: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    time_limit_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)]
    goal: Goal
    hints: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=300)]],
        msgspec.Meta(max_length=5),
    ]
    milestones: Annotated[list[Milestone], msgspec.Meta(max_length=5)]


def difficulty_for(request: ChallengeRequest) -> Difficulty:
    """The one asked for, else one that grows with the user's level."""
    if request.difficulty is not None:
        return request.difficulty
    if request.level < 5:
        return "easy"
    if request.level < 10:
        return "medium"
    if request.level < 20:
        return "hard"
    return "very_hard"


# The reward grows 1% per level above the first, up to 1.5 times (level 51), always inside the
# difficulty's range: a stronger player's challenge of the same difficulty pays more.
LEVEL_BONUS_CAP = 51


def reward_for(difficulty: Difficulty, level: int) -> int:
    """The seed's base points for ``difficulty``, raised with the player's ``level``."""
    low, high = REWARD_RANGE[difficulty]
    bonus = (min(level, LEVEL_BONUS_CAP) - 1) / 100
    return min(high, max(low, round(BASE_POINTS[difficulty] * (1 + bonus))))


def target_for(base: int, level: int, most: int) -> int:
    """A goal's size for the player's level: one more per ten levels, within ``most``."""
    return min(most, base + (level - 1) // 10)


def from_draft(
    draft: ChallengeDraft,
    request: ChallengeRequest,
    *,
    answered_by: AnsweredBy,
    prompt_version: str,
    model: str | None = None,
) -> GeneratedChallenge:
    return GeneratedChallenge(
        kind=request.kind,
        title=draft.title,
        description=draft.description,
        difficulty=draft.difficulty,
        category=draft.category,
        reward_points=draft.reward_points,
        time_limit_hours=draft.time_limit_hours,
        goal=draft.goal,
        hints=list(draft.hints),
        milestones=list(draft.milestones),
        answered_by=answered_by,
        prompt_version=prompt_version,
        model=model,
    )


def check_draft(draft: ChallengeDraft, request: ChallengeRequest) -> list[str]:
    """What in a model's draft the platform does not allow (empty: nothing). The model is
    told the difficulty to use, so one it changed is refused too."""
    challenge = from_draft(draft, request, answered_by="model", prompt_version="check")
    found = challenge_violations(challenge, request)
    wanted = difficulty_for(request)
    if request.difficulty is None and draft.difficulty != wanted:
        found.append(f"difficulty {draft.difficulty} was not asked for ({wanted})")
    return found


# --- the fallback -------------------------------------------------------------------------


def common_tag(request: ChallengeRequest) -> str | None:
    """The tag on most recent tasks, if at least two share it (ties: alphabetical)."""
    counts = Counter(t for task in request.recent_tasks for t in dict.fromkeys(task.tags))
    if not counts:
        return None
    best = max(counts.values())
    if best < 2:
        return None
    return min(t for t, n in counts.items() if n == best)


def strongest_skill(request: ChallengeRequest) -> str | None:
    """The skill the user practised most recently, else their highest-level one."""
    own = {s.skill_id: s.level for s in request.skills}
    practised = Counter(s for task in request.recent_tasks for s in task.skill_ids if s in own)
    if practised:
        best = max(practised.values())
        return min(s for s, n in practised.items() if n == best)
    if own:
        top = max(own.values())
        return min(s for s, level in own.items() if level == top)
    return None


def fallback_goal(kind: ChallengeKind, difficulty: Difficulty, request: ChallengeRequest) -> Goal:
    """The goal by difficulty, a little larger for higher levels (see :func:`target_for`)."""
    level = request.level
    if kind == "streak":
        days = target_for(STREAK_DAYS[difficulty], level, GOAL_TARGETS["streak_days"][1])
        return Goal(metric="streak_days", target=days)
    tasks = target_for(TASK_TARGET[difficulty], level, GOAL_TARGETS["tasks_tagged"][1])
    tag = common_tag(request)
    if tag is not None:
        return Goal(metric="tasks_tagged", target=tasks, tag=tag)
    skill = strongest_skill(request) if kind == "solo" else None
    if skill is not None:
        # XP per level of the goal's size: 10% more per ten levels.
        xp = SKILL_XP[difficulty] * target_for(10, level, 100) // 10
        return Goal(metric="skill_xp", target=xp, skill_id=skill)
    return Goal(metric="tasks_completed", target=tasks)


TITLES: dict[Metric, str] = {
    "tasks_completed": "{n} tasks in {days}",
    "tasks_tagged": "{n} '{tag}' tasks in {days}",
    "streak_days": "{n}-day streak",
    "skill_xp": "{n} XP of {skill} in {days}",
}
OPENERS: dict[ChallengeKind, str] = {
    "solo": "Your challenge",
    "streak": "Keep it going",
    "duel": "Head to head",
    "group": "Together",
}
DESCRIPTIONS: dict[Metric, str] = {
    "tasks_completed": "Complete {n} tasks within {days}.",
    "tasks_tagged": "Complete {n} tasks tagged '{tag}' within {days}.",
    "streak_days": "Complete at least one task every day for {n} days in a row.",
    "skill_xp": "Earn {n} XP in {skill} within {days} by completing tasks that train it.",
}
CLOSERS: dict[ChallengeKind, str] = {
    "solo": "",
    "streak": " Missing a day ends the streak.",
    "duel": " The first of you to get there wins the duel.",
    "group": " Everyone plays the same goal; the ranking shows who got furthest.",
}
HINTS: dict[Metric, tuple[str, ...]] = {
    "tasks_completed": (
        "Pick the smallest open task first to get moving.",
        "Plan tomorrow's tasks before you stop today.",
    ),
    "tasks_tagged": (
        "Block a fixed time each day for this kind of work.",
        "Split big tasks so each one can be finished in a sitting.",
    ),
    "streak_days": (
        "A small task still counts: keep one ready for busy days.",
        "Do it at the same time every day.",
    ),
    "skill_xp": (
        "Harder tasks train a skill faster.",
        "Tag your tasks with the skill so they count.",
    ),
}


def days_text(hours: int) -> str:
    if hours % 24:
        return f"{hours} hours"
    days = hours // 24
    return "1 day" if days == 1 else f"{days} days"


def milestones_for(goal: Goal, metric_unit: str) -> list[Milestone]:
    """About a third and two thirds of the way (fewer when the target is small)."""
    marks = sorted({goal.target // 3, (2 * goal.target) // 3} - {0})
    return [Milestone(at=m, label=f"{m} {metric_unit}") for m in marks if m < goal.target]


UNITS: dict[Metric, str] = {
    "tasks_completed": "tasks done",
    "tasks_tagged": "tasks done",
    "streak_days": "days in a row",
    "skill_xp": "XP earned",
}


def fallback(request: ChallengeRequest, *, prompt_version: str) -> GeneratedChallenge:
    """A playable challenge from rules and templates: the same request always gives the
    same challenge, and it always passes :func:`challenge_violations`."""
    difficulty = difficulty_for(request)
    goal = fallback_goal(request.kind, difficulty, request)
    hours = HOURS[difficulty]
    if goal.metric == "streak_days":
        hours = goal.target * 24
    texts = [t.title for t in request.recent_tasks]
    texts += [tag for t in request.recent_tasks for tag in t.tags]
    texts += [s for t in request.recent_tasks for s in t.skill_ids]
    category = classify(texts)
    fill = {
        "n": goal.target,
        "days": days_text(hours),
        "tag": goal.tag or "",
        "skill": goal.skill_id or "",
    }
    title = f"{OPENERS[request.kind]}: {TITLES[goal.metric].format(**fill)}"
    description = DESCRIPTIONS[goal.metric].format(**fill) + CLOSERS[request.kind]
    reward = reward_for(difficulty, request.level)
    return GeneratedChallenge(
        kind=request.kind,
        title=title[:200],
        description=description,
        difficulty=difficulty,
        category=category,
        reward_points=reward,
        time_limit_hours=hours,
        goal=goal,
        hints=list(HINTS[goal.metric]),
        milestones=milestones_for(goal, UNITS[goal.metric]),
        answered_by="fallback",
        prompt_version=prompt_version,
        model=None,
    )
