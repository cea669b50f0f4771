"""Energy: at most 100, regenerating 1 point per full minute since the last change.

Nothing runs on a timer. The wallet stores the value and the instant from which the next
point is accruing (the *anchor*); the current value is computed whenever it is needed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

ENERGY_MAX: Final = 100
REGEN_EVERY: Final = timedelta(minutes=1)


def regenerate(value: int, anchor: datetime, now: datetime) -> tuple[int, datetime]:
    """Energy as of ``now`` and the new anchor (partial minutes keep accruing)."""
    if value >= ENERGY_MAX:
        return value, max(anchor, now)
    if now <= anchor:
        return value, anchor
    gained = int((now - anchor) // REGEN_EVERY)
    if value + gained >= ENERGY_MAX:
        return ENERGY_MAX, now
    return value + gained, anchor + gained * REGEN_EVERY


def next_point_at(value: int, anchor: datetime) -> datetime | None:
    return None if value >= ENERGY_MAX else anchor + REGEN_EVERY


def full_at(value: int, anchor: datetime) -> datetime:
    return anchor + max(0, ENERGY_MAX - value) * REGEN_EVERY
