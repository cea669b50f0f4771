"""Skill trees: the definitions (data shipped as ``data/skills.json``), their validation, and
the rules of progress. Pure: no I/O beyond reading the shipped file.

* A **tree** is categories of skills; a skill may require others (its prerequisites). The
  file is checked whole at start-up (:func:`parse_tree`): unknown or duplicate ids, a
  prerequisite cycle or a tag mapped to an unknown skill refuse it, naming the problem.
* **XP** comes from completed tasks: the task's own skill ids when it names known ones,
  otherwise its tags through the tree's tag→skill mapping (:func:`trained_skills`). A
  completion's XP (by difficulty) is shared among the skills it trains.
* **Levels** follow the seed's curve, level = floor(xp / 1000) + 1; every level gained
  grants one skill point (:func:`train`).
* **Unlocking** a skill spends its ``cost`` in points and needs every prerequisite unlocked
  (:func:`unlock`); both refusals are conflicts naming what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Annotated

import msgspec

from deepiri_kit.contracts.tasks import TaskCompleted
from deepiri_kit.errors import Conflict, NotFound

__all__ = [
    "POINTS_PER_LEVEL",
    "XP_PER_LEVEL",
    "Leveled",
    "Progress",
    "SkillDef",
    "Tree",
    "TreeError",
    "completion_xp",
    "gains_for",
    "level_of",
    "parse_tree",
    "shipped_tree",
    "train",
    "trained_skills",
    "training_key",
    "unlock",
    "unlock_key",
]

XP_PER_LEVEL = 1000
POINTS_PER_LEVEL = 1
# What one completion is worth, shared among the skills it trains (a task tagged with every
# skill trains each a little, not each fully).
COMPLETION_XP: Mapping[str, int] = {"trivial": 20, "easy": 50, "medium": 100, "hard": 200}

SkillId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Description = Annotated[str, msgspec.Meta(max_length=300)]
Cost = Annotated[int, msgspec.Meta(ge=0, le=100)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class TreeError(ValueError):
    """The definitions cannot be used; the message names the problem."""


# --- the file's shape ---------------------------------------------------------------------


class SkillFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: SkillId
    name: Name
    description: Description = ""
    cost: Cost = 1
    requires: list[SkillId] = []


class CategoryFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: SkillId
    name: Name
    skills: list[SkillFile]


class TreeFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    categories: list[CategoryFile]
    tags: dict[Tag, list[SkillId]] = {}


# --- the validated tree -------------------------------------------------------------------


class SkillDef(msgspec.Struct, frozen=True):
    id: str
    name: str
    description: str
    category: str
    cost: int
    requires: tuple[str, ...]


class Category(msgspec.Struct, frozen=True):
    id: str
    name: str
    skills: tuple[str, ...]


class Tree(msgspec.Struct, frozen=True):
    categories: tuple[Category, ...]
    skills: dict[str, SkillDef]  # in file order
    tags: dict[str, tuple[str, ...]]  # normalised tag → skill ids

    def skill(self, skill_id: str) -> SkillDef:
        found = self.skills.get(skill_id)
        if found is None:
            raise NotFound(f"there is no skill {skill_id!r}")
        return found


def parse_tree(raw: bytes | str) -> Tree:
    """The tree in ``raw`` (JSON), checked whole; :class:`TreeError` names what is wrong."""
    try:
        shape = msgspec.json.decode(raw, type=TreeFile)
    except msgspec.DecodeError as exc:  # ValidationError included: it names the path
        raise TreeError(f"skill tree: {exc}") from None
    categories: list[Category] = []
    skills: dict[str, SkillDef] = {}
    for category in shape.categories:
        if any(c.id == category.id for c in categories):
            raise TreeError(f"skill tree: duplicate category id {category.id!r}")
        for s in category.skills:
            if s.id in skills:
                raise TreeError(f"skill tree: duplicate skill id {s.id!r}")
            if len(set(s.requires)) != len(s.requires):
                raise TreeError(f"skill tree: {s.id!r} lists a prerequisite twice")
            skills[s.id] = SkillDef(
                s.id, s.name, s.description, category.id, s.cost, tuple(s.requires)
            )
        categories.append(
            Category(category.id, category.name, tuple(s.id for s in category.skills))
        )
    for defined in skills.values():
        unknown = [r for r in defined.requires if r not in skills]
        if unknown:
            raise TreeError(f"skill tree: {defined.id!r} requires unknown skill(s) {unknown}")
    cycle = _find_cycle({d.id: d.requires for d in skills.values()})
    if cycle:
        raise TreeError(f"skill tree: prerequisite cycle {' -> '.join(cycle)}")
    tags: dict[str, tuple[str, ...]] = {}
    for tag, mapped in shape.tags.items():
        unknown = [m for m in mapped if m not in skills]
        if unknown:
            raise TreeError(f"skill tree: tag {tag!r} maps to unknown skill(s) {unknown}")
        key = normal_tag(tag)
        if key in tags:
            raise TreeError(f"skill tree: duplicate tag {key!r}")
        tags[key] = tuple(dict.fromkeys(mapped))
    return Tree(tuple(categories), skills, tags)


def _find_cycle(requires: Mapping[str, Sequence[str]]) -> list[str]:
    """A prerequisite cycle as a path that ends where it starts, or [] if there is none."""
    done: set[str] = set()
    for root in requires:
        if root in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                path.append(node)
                on_path.add(node)
            nexts = requires[node]
            if i < len(nexts):
                stack.append((node, i + 1))
                child = nexts[i]
                if child in on_path:
                    return [*path[path.index(child) :], child]
                if child not in done:
                    stack.append((child, 0))
            else:
                path.pop()
                on_path.discard(node)
                done.add(node)
    return []


def shipped_tree() -> Tree:
    """The definitions this package ships (``data/skills.json``)."""
    return parse_tree(resources.files(__package__).joinpath("data/skills.json").read_bytes())


def normal_tag(tag: str) -> str:
    return tag.strip().casefold()


# --- progress -----------------------------------------------------------------------------


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """One user's progress: XP per skill, skills unlocked (in order), points to spend and
    points ever granted (granted - available = spent)."""

    xp: dict[str, int] = {}
    unlocked: list[str] = []
    points: int = 0
    granted: int = 0


class Leveled(msgspec.Struct, frozen=True):
    skill_id: str
    category: str
    previous_level: int
    level: int
    xp: int
    points_granted: int


def level_of(xp: int) -> int:
    """The seed's curve: level = floor(xp / 1000) + 1."""
    return max(xp, 0) // XP_PER_LEVEL + 1


def xp_to_next_level(xp: int) -> int:
    return level_of(xp) * XP_PER_LEVEL - max(xp, 0)


def completion_xp(difficulty: str, skills: int) -> int:
    """XP each of ``skills`` skills gains from one completion (the share rounds up)."""
    if skills <= 0:
        return 0
    return -(-COMPLETION_XP.get(difficulty, COMPLETION_XP["easy"]) // skills)


def trained_skills(tree: Tree, skill_ids: Iterable[str], tags: Iterable[str]) -> list[str]:
    """The skills a task trains: its known skill ids, or, if it names none, its tags' skills
    (unknown ids and unmapped tags are ignored: tasks are free text to this service)."""
    named = [s for s in dict.fromkeys(skill_ids) if s in tree.skills]
    if named:
        return named
    mapped = (s for t in tags for s in tree.tags.get(normal_tag(t), ()))
    return list(dict.fromkeys(mapped))


def gains_for(tree: Tree, event: TaskCompleted) -> dict[str, int]:
    """XP per skill that a completion earns (none for a habit tapped ``down``)."""
    if event.habit_direction == "down":
        return {}
    skills = trained_skills(tree, event.skill_ids, event.tags)
    share = completion_xp(event.difficulty, len(skills))
    return dict.fromkeys(skills, share)


def training_key(event_id: str, event: TaskCompleted) -> tuple[str, ...]:
    """What may train a user's skills at most once: as with rewards, a todo once in its life
    (complete → reopen → complete is no new XP), a daily once per period (its completion
    id), each habit tap on its own; a redelivered event shares its id and trains nothing."""
    if event.kind == "todo":
        return ("task.completed", "todo", event.task_id)
    if event.kind == "daily" and event.completion_id:
        return ("task.completed", "daily", event.completion_id)
    return ("task.completed", "event", event_id)


def unlock_key(skill_id: str) -> tuple[str, ...]:
    """A skill is unlocked once in a user's life."""
    return ("unlock", skill_id)


def train(
    tree: Tree, progress: Progress, gains: Mapping[str, int]
) -> tuple[Progress, list[Leveled]]:
    """``progress`` after adding ``gains`` (XP per skill); each level gained grants points."""
    xp = dict(progress.xp)
    leveled: list[Leveled] = []
    for skill_id, gain in gains.items():
        skill = tree.skill(skill_id)
        before = xp.get(skill_id, 0)
        after = before + max(gain, 0)
        xp[skill_id] = after
        levels = level_of(after) - level_of(before)
        if levels > 0:
            leveled.append(
                Leveled(
                    skill_id,
                    skill.category,
                    level_of(before),
                    level_of(after),
                    after,
                    levels * POINTS_PER_LEVEL,
                )
            )
    granted = sum(lv.points_granted for lv in leveled)
    updated = msgspec.structs.replace(
        progress, xp=xp, points=progress.points + granted, granted=progress.granted + granted
    )
    return updated, leveled


def unlock(tree: Tree, progress: Progress, skill_id: str) -> tuple[Progress, SkillDef]:
    """``progress`` with ``skill_id`` unlocked and its cost spent.

    NotFound for an unknown skill; Conflict when it is unlocked already, when prerequisites
    are missing (``missing`` names them) or when the points do not cover the cost."""
    skill = tree.skill(skill_id)
    if skill_id in progress.unlocked:
        raise Conflict(f"{skill_id!r} is unlocked already", skill_id=skill_id)
    missing = [r for r in skill.requires if r not in progress.unlocked]
    if missing:
        raise Conflict(
            f"{skill_id!r} needs {', '.join(repr(m) for m in missing)} unlocked first",
            skill_id=skill_id,
            missing=missing,
        )
    if progress.points < skill.cost:
        raise Conflict(
            f"{skill_id!r} costs {skill.cost} skill point(s); {progress.points} available",
            skill_id=skill_id,
            needed=skill.cost,
            available=progress.points,
        )
    updated = msgspec.structs.replace(
        progress, unlocked=[*progress.unlocked, skill_id], points=progress.points - skill.cost
    )
    return updated, skill
