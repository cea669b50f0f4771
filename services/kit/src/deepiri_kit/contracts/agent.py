"""ai-service's HTTP contracts (a request/response API, not a stream): what another service
sends to ai-service and what it gets back. Declared once here, so the caller
(challenge-service) encodes and decodes with the very structs ai-service serves.

* ``POST /api/agent/challenges`` — :class:`ChallengeRequest` → :class:`GeneratedChallenge`
* ``POST /api/agent/tasks/understand`` — :class:`TaskUnderstandingRequest` →
  :class:`TaskUnderstanding`

Both need a client-credentials access token from user-service carrying :data:`SCOPE`. Every
answer says who produced it (``answered_by``: the model, or the deterministic ``fallback``
when no endpoint is configured, the endpoint failed or its circuit is open) and the prompt
version; either way it has been checked against what the platform allows
(:func:`challenge_violations`, :func:`understanding_violations`): a goal the platform can
count, a reward inside the difficulty's range, subtasks that depend only on earlier ones.

Requests refuse unknown fields; responses tolerate them (ai-service may add an optional
field before its callers know it). Pure: msgspec only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from deepiri_kit.contracts.base import UtcTime

__all__ = [
    "CATEGORIES",
    "CHALLENGES_PATH",
    "GOAL_TARGETS",
    "KIND_METRICS",
    "REWARD_RANGE",
    "SCOPE",
    "UNDERSTAND_PATH",
    "AnsweredBy",
    "Category",
    "ChallengeKind",
    "ChallengeRequest",
    "Difficulty",
    "GeneratedChallenge",
    "Goal",
    "Metric",
    "Milestone",
    "RecentTask",
    "SkillLevel",
    "Subtask",
    "TaskDifficulty",
    "TaskUnderstanding",
    "TaskUnderstandingRequest",
    "challenge_violations",
    "understanding_violations",
]

SCOPE = "agent:invoke"
CHALLENGES_PATH = "/api/agent/challenges"
UNDERSTAND_PATH = "/api/agent/tasks/understand"

ChallengeKind = Literal["solo", "streak", "duel", "group"]
Difficulty = Literal["easy", "medium", "hard", "very_hard"]
# task-service's vocabulary, for a task the platform will create
TaskDifficulty = Literal["trivial", "easy", "medium", "hard"]
# what the platform can count from its own events (task.completed, skill.leveled, streaks)
Metric = Literal["tasks_completed", "tasks_tagged", "streak_days", "skill_xp"]
AnsweredBy = Literal["model", "fallback"]
# gamification-service's rating ladders (challenge.completed's category)
Category = Literal["overall", "coding", "creative", "study", "productivity", "social"]
CATEGORIES: tuple[Category, ...] = (
    "overall",
    "coding",
    "creative",
    "study",
    "productivity",
    "social",
)

# The seed's points (easy 100, medium 250, hard 500, very hard 1000), times 0.7 for short and
# 1.5 for long challenges: every reward lies in its difficulty's range.
REWARD_RANGE: Mapping[Difficulty, tuple[int, int]] = {
    "easy": (70, 150),
    "medium": (175, 375),
    "hard": (350, 750),
    "very_hard": (700, 1500),
}
# Which metrics each kind may measure (a streak is counted in days; the rest in work done).
KIND_METRICS: Mapping[ChallengeKind, tuple[Metric, ...]] = {
    "solo": ("tasks_completed", "tasks_tagged", "skill_xp"),
    "streak": ("streak_days",),
    "duel": ("tasks_completed", "tasks_tagged", "skill_xp"),
    "group": ("tasks_completed", "tasks_tagged", "skill_xp"),
}
# The targets a goal may set, per metric (inclusive).
GOAL_TARGETS: Mapping[Metric, tuple[int, int]] = {
    "tasks_completed": (1, 100),
    "tasks_tagged": (1, 100),
    "streak_days": (2, 60),
    "skill_xp": (50, 20_000),
}

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Hint = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[\w\-. ]+$")]
SkillId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# An IANA zone name ("Europe/Berlin", "UTC"); ai-service refuses names it does not know (422).
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")]
Level = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Points = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Hours = Annotated[int, msgspec.Meta(ge=1, le=24 * 60)]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
Target = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


# --- challenge generation -----------------------------------------------------------------


class RecentTask(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One of the user's recent tasks (completed or open)."""

    title: Title
    tags: Annotated[list[Tag], msgspec.Meta(max_length=20)] = []
    skill_ids: Annotated[list[SkillId], msgspec.Meta(max_length=20)] = []
    completed_at: UtcTime | None = None


class SkillLevel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    skill_id: SkillId
    level: Level


class ChallengeRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Generate one challenge of ``kind`` for ``user_id`` (the player it is for: rate limits
    and the cache are per user)."""

    user_id: UserId
    kind: ChallengeKind
    level: Level = 1
    time_zone: TimeZone = "UTC"
    recent_tasks: Annotated[list[RecentTask], msgspec.Meta(max_length=50)] = []
    skills: Annotated[list[SkillLevel], msgspec.Meta(max_length=50)] = []
    # None: ai-service picks one from the level
    difficulty: Difficulty | None = None


class Goal(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the platform counts: ``tag`` with ``tasks_tagged`` only, ``skill_id`` with
    ``skill_xp`` only; the target within :data:`GOAL_TARGETS`."""

    metric: Metric
    target: Target
    tag: Tag | None = None
    skill_id: SkillId | None = None


class Milestone(msgspec.Struct, frozen=True, kw_only=True):
    """A step on the way: reached when the goal's count reaches ``at`` (below the target)."""

    at: Target
    label: Title


class GeneratedChallenge(msgspec.Struct, frozen=True, kw_only=True):
    kind: ChallengeKind
    title: Title
    description: Text
    difficulty: Difficulty
    category: Category
    reward_points: Points  # within REWARD_RANGE[difficulty]
    time_limit_hours: Hours
    goal: Goal
    hints: Annotated[list[Hint], msgspec.Meta(max_length=5)] = []
    milestones: Annotated[list[Milestone], msgspec.Meta(max_length=5)] = []
    answered_by: AnsweredBy
    prompt_version: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    model: str | None = None  # the model's name when answered_by == "model"


def challenge_violations(
    challenge: GeneratedChallenge, request: ChallengeRequest | None = None
) -> list[str]:
    """What in ``challenge`` the platform does not allow (empty: nothing). With the request,
    also that it is the kind asked for and names only the user's skills."""
    found: list[str] = []
    goal = challenge.goal
    low, high = REWARD_RANGE[challenge.difficulty]
    if not low <= challenge.reward_points <= high:
        found.append(
            f"reward_points {challenge.reward_points} is outside {challenge.difficulty}'s "
            f"range {low}-{high}"
        )
    if goal.metric not in KIND_METRICS[challenge.kind]:
        found.append(f"a {challenge.kind} challenge cannot measure {goal.metric}")
    least, most = GOAL_TARGETS[goal.metric]
    if not least <= goal.target <= most:
        found.append(f"goal target {goal.target} is outside {least}-{most} for {goal.metric}")
    if (goal.tag is not None) != (goal.metric == "tasks_tagged"):
        found.append("goal.tag is required for tasks_tagged and allowed only there")
    if (goal.skill_id is not None) != (goal.metric == "skill_xp"):
        found.append("goal.skill_id is required for skill_xp and allowed only there")
    if goal.metric == "streak_days" and challenge.time_limit_hours < goal.target * 24:
        found.append("a streak of N days needs a time limit of at least N days")
    previous = 0
    for milestone in challenge.milestones:
        if not previous < milestone.at < goal.target:
            found.append("milestones must rise strictly and stay below the goal's target")
            break
        previous = milestone.at
    if request is not None:
        if challenge.kind != request.kind:
            found.append(f"kind {challenge.kind} was not asked for ({request.kind})")
        if request.difficulty is not None and challenge.difficulty != request.difficulty:
            found.append(f"difficulty {challenge.difficulty} was not asked for")
        if goal.skill_id is not None and goal.skill_id not in {s.skill_id for s in request.skills}:
            found.append(f"goal.skill_id {goal.skill_id!r} is not one of the user's skills")
    return found


# --- task understanding -------------------------------------------------------------------


class TaskUnderstandingRequest(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Free text ("write the Q3 report by friday 5pm, ~2h") → a task the user can confirm.
    ``now`` anchors relative dates (default: ai-service's clock); ``skills`` and ``tags``
    are the ids the answer may use (the user's own)."""

    user_id: UserId
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    time_zone: TimeZone = "UTC"
    now: UtcTime | None = None
    skills: Annotated[list[SkillId], msgspec.Meta(max_length=100)] = []
    tags: Annotated[list[Tag], msgspec.Meta(max_length=100)] = []


class Subtask(msgspec.Struct, frozen=True, kw_only=True):
    """``depends_on``: indexes of earlier subtasks in the same list (so never a cycle)."""

    title: Title
    estimated_minutes: Minutes | None = None
    depends_on: Annotated[
        list[Annotated[int, msgspec.Meta(ge=0)]], msgspec.Meta(max_length=10)
    ] = []


class TaskUnderstanding(msgspec.Struct, frozen=True, kw_only=True):
    title: Title
    # in the user's time zone (its UTC offset on the wire: 2026-12-04T17:00:00+01:00)
    due_at: UtcTime | None = None
    estimated_minutes: Minutes | None = None
    difficulty: TaskDifficulty
    tags: Annotated[list[Tag], msgspec.Meta(max_length=20)] = []
    skill_ids: Annotated[list[SkillId], msgspec.Meta(max_length=20)] = []
    subtasks: Annotated[list[Subtask], msgspec.Meta(max_length=20)] = []
    answered_by: AnsweredBy
    prompt_version: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    model: str | None = None


def understanding_violations(
    result: TaskUnderstanding, request: TaskUnderstandingRequest | None = None
) -> list[str]:
    """What in ``result`` the platform does not allow (empty: nothing)."""
    found: list[str] = []
    for index, subtask in enumerate(result.subtasks):
        if any(not 0 <= d < index for d in subtask.depends_on):
            found.append(f"subtask {index} may depend only on earlier subtasks")
    if request is not None:
        unknown = set(result.skill_ids) - set(request.skills)
        if unknown:
            found.append(f"skill ids {sorted(unknown)} are not the user's")
    return found
