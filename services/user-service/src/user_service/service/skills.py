"""Skill trees: the definitions (loaded and checked once, at start-up), each user's progress,
XP from completed tasks (exactly once per completion) and unlocking.

Every change is one insert into the user's skill log (``store/skills.py``): the new progress,
the change's key under a unique index, and its events. Two writers racing for the same
change number: one insert wins, the other re-reads the head and decides again (an unlock
racing another unlock therefore sees the points already spent). The same completion
delivered twice meets its key and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from deepiri_kit import Conflict, idempotency_stamp, metrics, scoped_key
from deepiri_kit.chain import AlreadyRecorded, link_id
from deepiri_kit.contracts.skills import SkillLeveled, SkillUnlocked
from deepiri_kit.contracts.tasks import TaskCompleted
from user_service.domain import skills as rules
from user_service.domain.skills import Leveled, Progress, SkillDef, Tree
from user_service.events.publish import skill_outbox
from user_service.store.skills import SkillStore

log = logging.getLogger("user.skills")
MAX_RACES = 50  # lost change numbers before a change gives up (a 409 the caller may retry)

SKILL_XP = metrics.counter("deepiri_skill_xp_total", "Skill XP gained, by category.", ("category",))
SKILL_LEVEL_UPS = metrics.counter("deepiri_skill_level_ups_total", "Skill level-ups.")
SKILLS_UNLOCKED = metrics.counter("deepiri_skills_unlocked_total", "Skills unlocked.")


def load_tree(path: str = "") -> Tree:
    """The tree at ``path``, or the shipped one; a bad file raises
    :class:`~user_service.domain.skills.TreeError` naming the problem (the app refuses to
    start)."""
    if not path:
        return rules.shipped_tree()
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise rules.TreeError(f"skill tree: cannot read {path}: {exc.strerror}") from None
    return rules.parse_tree(raw)


@dataclass(frozen=True)
class Unlocked:
    progress: Progress
    skill: SkillDef


class SkillTrees:
    def __init__(self, tree: Tree, store: SkillStore) -> None:
        self.tree = tree
        self.store = store

    async def progress(self, user_id: str) -> Progress:
        progress, _ = await self.store.head(user_id)
        return progress

    async def on_task_completed(
        self, event_id: str, user_id: str, event: TaskCompleted
    ) -> list[Leveled]:
        """The XP a completion earns, added once per completion (see ``training_key``)."""
        gains = rules.gains_for(self.tree, event)
        if not gains:
            return []
        key = scoped_key(user_id, *rules.training_key(event_id, event))
        ref = {"event_id": event_id, "task_id": event.task_id, "gains": gains}
        for _ in range(MAX_RACES):
            before, seq = await self.store.head(user_id)
            after, leveled = rules.train(self.tree, before, gains)
            change_id = link_id(user_id, seq + 1)
            events = [self._leveled(user_id, lv, after, event.task_id) for lv in leveled]
            try:
                link = await self.store.record(
                    user_id,
                    seq + 1,
                    key=key,
                    kind="train",
                    progress=after,
                    ref=ref,
                    outbox=skill_outbox(user_id, change_id, events),
                )
            except AlreadyRecorded:
                return []  # this completion trained these skills before
            if link is None:
                continue
            await self.store.deliver(link)
            for skill_id, gain in gains.items():
                SKILL_XP.labels(self.tree.skills[skill_id].category).inc(gain)
            SKILL_LEVEL_UPS.inc(len(leveled))
            return leveled
        raise RuntimeError(f"skill XP for {user_id}: {MAX_RACES} lost races in a row")

    async def unlock(self, user_id: str, skill_id: str) -> Unlocked:
        """Spend the skill's cost and unlock it (Conflict: prerequisites missing, points
        short, or unlocked already; NotFound: no such skill)."""
        key = scoped_key(user_id, *rules.unlock_key(skill_id))
        for _ in range(MAX_RACES):
            before, seq = await self.store.head(user_id)
            after, skill = rules.unlock(self.tree, before, skill_id)
            event = SkillUnlocked(
                user_id=user_id,
                skill_id=skill.id,
                category=skill.category,
                cost=skill.cost,
                points=after.points,
                unlocked=len(after.unlocked),
            )
            try:
                link = await self.store.record(
                    user_id,
                    seq + 1,
                    key=key,
                    kind="unlock",
                    progress=after,
                    ref={"skill_id": skill_id},
                    outbox=skill_outbox(user_id, link_id(user_id, seq + 1), [event]),
                    # A keyed request stamps the change that commits it.
                    extra=idempotency_stamp(),
                )
            except AlreadyRecorded:
                raise Conflict(f"{skill_id!r} is unlocked already", skill_id=skill_id) from None
            if link is None:
                continue
            await self.store.deliver(link)
            SKILLS_UNLOCKED.inc()
            return Unlocked(after, skill)
        raise Conflict("too many concurrent changes to these skills; retry", skill_id=skill_id)

    async def erase(self, user_id: str) -> None:
        """The user's progress goes with their account."""
        await self.store.erase(user_id)

    def _leveled(
        self, user_id: str, leveled: Leveled, after: Progress, task_id: str
    ) -> SkillLeveled:
        return SkillLeveled(
            user_id=user_id,
            skill_id=leveled.skill_id,
            category=leveled.category,
            level=leveled.level,
            previous_level=leveled.previous_level,
            xp=leveled.xp,
            points_granted=leveled.points_granted,
            points=after.points,
            task_id=task_id,
        )
