"""Events on ``events.gamification`` (envelope ``user_id`` = the user concerned):

* ``gamification.currency_credited`` — ``{user_id, entry_key, kind, reason, amounts,
  balances, level, ref}``: what was credited and the balances after it;
* ``gamification.currency_spent`` — same shape, ``amounts`` being what was debited;
* ``gamification.level_up`` — ``{user_id, level, previous_level, xp, xp_to_next_level}``;
* ``gamification.badge_awarded`` — ``{user_id, badge_id, name, description, category,
  rarity, tier, family, secret, reward}``;
* ``gamification.rating_changed`` — ``{user_id, category, match_id, method, result, rank,
  before, after, delta, peak, provisional}``.

They are decided in the same MongoDB write as the change (outbox), so none is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepiri_kit.events import Envelope, new_event
from gamification_service.domain import levels
from gamification_service.domain.badges import BadgeDef
from gamification_service.domain.wallet import Applied

STREAM = "events.gamification"
SOURCE = "gamification-service"


def _event(type_: str, user_id: str, data: dict[str, Any]) -> Envelope:
    return new_event(type_, source=SOURCE, user_id=user_id, data={"user_id": user_id, **data})


def wallet_events(
    user_id: str,
    entry: Mapping[str, Any],
    applied: Applied,
    badge: BadgeDef | None = None,
) -> list[Envelope]:
    if applied.outcome != "applied":
        return []
    state = applied.state
    common = {
        "entry_key": entry["key"],
        "kind": entry["kind"],
        "reason": entry.get("reason", ""),
        "balances": dict(state.balances),
        "level": state.level,
        "ref": dict(entry.get("ref") or {}),
    }
    events: list[Envelope] = []
    if applied.credited:
        events.append(
            _event(
                "gamification.currency_credited", user_id, {**common, "amounts": applied.credited}
            )
        )
    if applied.debited:
        events.append(
            _event("gamification.currency_spent", user_id, {**common, "amounts": applied.debited})
        )
    if applied.leveled_up:
        xp = state.balances.get("xp", 0)
        events.append(
            _event(
                "gamification.level_up",
                user_id,
                {
                    "level": applied.level_after,
                    "previous_level": applied.level_before,
                    "xp": xp,
                    "xp_to_next_level": levels.progress(xp).xp_to_next_level,
                },
            )
        )
    if badge is not None:
        events.append(
            _event(
                "gamification.badge_awarded",
                user_id,
                {
                    "badge_id": badge.id,
                    "name": badge.name,
                    "description": badge.description,
                    "category": badge.category,
                    "rarity": badge.rarity,
                    "tier": badge.tier,
                    "family": badge.family,
                    "secret": badge.secret,
                    "reward": badge.payout,
                },
            )
        )
    return events


def rating_changed(user_id: str, data: dict[str, Any]) -> Envelope:
    return _event("gamification.rating_changed", user_id, data)
