"""``events.skills``: what user-service publishes about skill trees. Envelope ``user_id`` = the
user (also ``user_id`` in the data). Each event is decided in the same insert as the change it
announces (the skill log's outbox), so none is lost; its envelope id is derived from that
change, so a relay or replay repeats the id.

* ``skill.leveled`` — a skill crossed one or more levels (level = floor(xp/1000)+1); every
  level gained granted a skill point (``points_granted``; ``points`` = now available).
* ``skill.unlocked`` — the user spent ``cost`` points to unlock a skill (prerequisites met).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from deepiri_kit.contracts.base import Event, Stream

__all__ = ["SKILL_LEVELED", "SKILL_UNLOCKED", "STREAM", "SkillLeveled", "SkillUnlocked"]

SKILL_LEVELED = "skill.leveled"
SKILL_UNLOCKED = "skill.unlocked"

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
SkillId = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Level = Annotated[int, msgspec.Meta(ge=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class SkillLeveled(Event, frozen=True, kw_only=True):
    TYPE = SKILL_LEVELED

    user_id: Id
    skill_id: SkillId
    category: SkillId
    level: Level
    previous_level: Level
    xp: Count
    points_granted: Count
    points: Count
    task_id: Id | None = None  # the completion that trained it


class SkillUnlocked(Event, frozen=True, kw_only=True):
    TYPE = SKILL_UNLOCKED

    user_id: Id
    skill_id: SkillId
    category: SkillId
    cost: Count
    points: Count  # left after the unlock
    unlocked: Count  # skills the user has unlocked, this one included


STREAM = Stream("events.skills", SkillLeveled, SkillUnlocked)
