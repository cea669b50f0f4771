"""The level curve in closed form.

Reaching level ``L`` takes ``50·L·(L-1)`` XP in total: level 2 at 100 XP, 3 at 300, 4 at 600,
5 at 1000, 10 at 4500, 50 at 122 500 — each level costs 100 XP more than the one before.
Inverted: ``L = ⌊(5 + √(25 + 2·xp)) / 10⌋`` (computed with integer square roots, so exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

STEP: Final = 100


def xp_for_level(level: int) -> int:
    """Total XP needed to reach ``level`` (level 1 needs nothing)."""
    if level < 1:
        raise ValueError("levels start at 1")
    return STEP * level * (level - 1) // 2


def level_for_xp(xp: int) -> int:
    if xp < 0:
        raise ValueError("xp cannot be negative")
    level = (5 + math.isqrt(25 + 2 * xp)) // 10
    # isqrt floors; nudge so that xp_for_level(level) <= xp < xp_for_level(level + 1) exactly.
    while xp_for_level(level + 1) <= xp:
        level += 1
    while level > 1 and xp_for_level(level) > xp:
        level -= 1
    return max(level, 1)


@dataclass(frozen=True)
class LevelProgress:
    level: int
    xp: int
    xp_into_level: int
    xp_for_next_level: int  # the size of this level
    xp_to_next_level: int
    progress: float


def progress(xp: int) -> LevelProgress:
    level = level_for_xp(xp)
    start, end = xp_for_level(level), xp_for_level(level + 1)
    return LevelProgress(
        level=level,
        xp=xp,
        xp_into_level=xp - start,
        xp_for_next_level=end - start,
        xp_to_next_level=end - xp,
        progress=round((xp - start) / (end - start), 4),
    )
