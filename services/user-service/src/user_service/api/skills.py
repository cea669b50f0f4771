"""``/api/users/skills``: the caller's skill tree with their progress, one skill, and unlocking
a skill (spends points; needs its prerequisites). XP comes from completed tasks, never from
a request. An unlock may carry an ``Idempotency-Key`` (the kit replays its answer)."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from user_service.api.accounts import READ, WRITE, Caller, person
from user_service.schemas import SkillOut, SkillTreeOut, UnlockedOut
from user_service.service.skills import SkillTrees

Skills = NamedDependency[SkillTrees]
SkillId = FromPath[str]


class SkillController(Controller):
    path = "/skills"
    tags = ["skills"]

    @get("/", guards=READ)
    async def tree(self, request: Caller, skills: Skills) -> SkillTreeOut:
        """Every category and skill with the caller's XP, level, unlocks and points."""
        progress = await skills.progress(person(request))
        return SkillTreeOut.of(skills.tree, progress)

    @get("/{skill_id:str}", guards=READ)
    async def skill(self, skill_id: SkillId, request: Caller, skills: Skills) -> SkillOut:
        """One skill with the caller's progress (404 for an unknown skill)."""
        definition = skills.tree.skill(skill_id)
        return SkillOut.of(definition, await skills.progress(person(request)))

    @post("/{skill_id:str}/unlock", guards=WRITE, status_code=200)
    async def unlock(self, skill_id: SkillId, request: Caller, skills: Skills) -> UnlockedOut:
        """Unlock a skill, spending its cost in skill points: 409 naming the prerequisites
        still locked (``missing``), when the points fall short (``needed``, ``available``),
        or when it is unlocked already."""
        unlocked = await skills.unlock(person(request), skill_id)
        return UnlockedOut(
            skill=SkillOut.of(unlocked.skill, unlocked.progress), points=unlocked.progress.points
        )
