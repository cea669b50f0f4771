"""A declarative badge rule engine: badges are data (see :mod:`.catalog`), rules are pure.

Rule types (the ``type`` field of a rule):

* ``counter``   — a recorded counter reached a number (``tasks_completed >= 100``);
* ``streak``    — the best streak of a kind (``activity`` days in a row, a task's own
  ``task`` streak, rating ``win`` streak) reached a length;
* ``threshold`` — a current value reached a level (``level``, ``balance.coins``,
  ``earned.xp``, ``rating.coding``, ``rating.max``…);
* ``window``    — that many tasks inside one time window (``day``, ``week``, ``month``);
* ``all`` / ``any`` — combinations of other rules;
* ``badges``    — holding other badges.

Every rule reports progress (current / target, 0..1), so clients can show how far each
visible badge is. A badge is awarded once (the ledger's unique key makes it so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import msgspec

Rarity = Literal["common", "uncommon", "rare", "epic", "legendary", "mythic"]
RARITIES: Final[tuple[Rarity, ...]] = ("common", "uncommon", "rare", "epic", "legendary", "mythic")
# What a badge pays when awarded, by rarity (a definition may override it).
RARITY_REWARD: Final[Mapping[str, Mapping[str, int]]] = {
    "common": {"coins": 10},
    "uncommon": {"coins": 25, "gems": 1},
    "rare": {"coins": 50, "gems": 2},
    "epic": {"coins": 100, "gems": 5},
    "legendary": {"coins": 250, "gems": 10},
    "mythic": {"coins": 500, "gems": 25},
}


class Counter(msgspec.Struct, tag="counter", forbid_unknown_fields=True):
    counter: str
    at_least: int


class Streak(msgspec.Struct, tag="streak", forbid_unknown_fields=True):
    streak: Literal["activity", "task", "win"]
    at_least: int


class Threshold(msgspec.Struct, tag="threshold", forbid_unknown_fields=True):
    metric: str
    at_least: float


class Window(msgspec.Struct, tag="window", forbid_unknown_fields=True):
    window: Literal["day", "week", "month"]
    at_least: int


class AllOf(msgspec.Struct, tag="all", forbid_unknown_fields=True):
    rules: list[Rule]


class AnyOf(msgspec.Struct, tag="any", forbid_unknown_fields=True):
    rules: list[Rule]


class HasBadges(msgspec.Struct, tag="badges", forbid_unknown_fields=True):
    badges: list[str]


Rule = Counter | Streak | Threshold | Window | AllOf | AnyOf | HasBadges


class BadgeDef(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    description: str
    category: Literal["tasks", "streaks", "levels", "wealth", "challenges", "ratings", "meta"]
    rarity: Rarity
    rule: Rule
    family: str | None = None
    tier: int = 1
    secret: bool = False
    reward: dict[str, int] | None = None

    @property
    def payout(self) -> dict[str, int]:
        return dict(self.reward if self.reward is not None else RARITY_REWARD[self.rarity])


@dataclass(frozen=True)
class Facts:
    """What rules are evaluated against: counters and metrics by name, and badges held."""

    values: Mapping[str, float]
    badges: frozenset[str]

    def value(self, name: str) -> float:
        return float(self.values.get(name, 0))


@dataclass(frozen=True)
class Progress:
    current: float
    target: float

    @property
    def done(self) -> bool:
        return self.current >= self.target

    @property
    def fraction(self) -> float:
        if self.target <= 0:
            return 1.0
        return round(min(1.0, max(0.0, self.current / self.target)), 4)


def progress(rule: Rule, facts: Facts) -> Progress:
    if isinstance(rule, Counter):
        return Progress(facts.value(rule.counter), rule.at_least)
    if isinstance(rule, Streak):
        return Progress(facts.value(f"streak.{rule.streak}"), rule.at_least)
    if isinstance(rule, Threshold):
        return Progress(facts.value(rule.metric), rule.at_least)
    if isinstance(rule, Window):
        return Progress(facts.value(f"window.{rule.window}"), rule.at_least)
    if isinstance(rule, AllOf):
        parts = [progress(r, facts) for r in rule.rules]
        # Partial credit: the mean of the parts' fractions, expressed over the part count.
        return Progress(sum(p.fraction for p in parts), len(parts))
    if isinstance(rule, AnyOf):
        parts = [progress(r, facts) for r in rule.rules]
        return Progress(max((p.fraction for p in parts), default=0.0), 1)
    held = sum(1 for b in rule.badges if b in facts.badges)
    return Progress(held, len(rule.badges))


def satisfied(rule: Rule, facts: Facts) -> bool:
    if isinstance(rule, AllOf):
        return all(satisfied(r, facts) for r in rule.rules)
    if isinstance(rule, AnyOf):
        return any(satisfied(r, facts) for r in rule.rules)
    return progress(rule, facts).done


def newly_earned(defs: Sequence[BadgeDef], facts: Facts) -> list[BadgeDef]:
    """Badges now satisfied and not yet held, to a fixpoint (badges can require badges)."""
    held = set(facts.badges)
    earned: list[BadgeDef] = []
    changed = True
    while changed:
        changed = False
        current = Facts(values=facts.values, badges=frozenset(held))
        for badge in defs:
            if badge.id not in held and satisfied(badge.rule, current):
                held.add(badge.id)
                earned.append(badge)
                changed = True
    return earned


def referenced_names(rule: Rule) -> Iterable[str]:
    """Counter and metric names a rule reads (to validate catalogs)."""
    if isinstance(rule, Counter):
        yield rule.counter
    elif isinstance(rule, Streak):
        yield f"streak.{rule.streak}"
    elif isinstance(rule, Threshold):
        yield rule.metric
    elif isinstance(rule, Window):
        yield f"window.{rule.window}"
    elif isinstance(rule, AllOf | AnyOf):
        for r in rule.rules:
            yield from referenced_names(r)


def referenced_badges(rule: Rule) -> Iterable[str]:
    if isinstance(rule, HasBadges):
        yield from rule.badges
    elif isinstance(rule, AllOf | AnyOf):
        for r in rule.rules:
            yield from referenced_badges(r)


def uses_ratings(rule: Rule) -> bool:
    return any(
        n.startswith("rating.") or n.startswith("matches_") or n == "streak.win"
        for n in referenced_names(rule)
    )


def load(raw: Sequence[Mapping[str, object]]) -> list[BadgeDef]:
    """Validate definitions given as plain data; ValueError on a bad or duplicate one."""
    defs = msgspec.convert(list(raw), type=list[BadgeDef])
    ids = [d.id for d in defs]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate badge ids: {sorted(duplicates)}")
    known = set(ids)
    for d in defs:
        missing = set(referenced_badges(d.rule)) - known
        if missing:
            raise ValueError(f"badge {d.id} requires unknown badges {sorted(missing)}")
    return defs
