"""What the use cases announce on ``events.gamification``: every outgoing event is built
here, from the kit's contracts (``deepiri_kit.contracts.gamification``). The use cases put
them in the outbox of the insert that decides them (``events/publish.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepiri_kit.contracts import Event
from deepiri_kit.contracts import gamification as contract
from gamification_service.domain import ratings as rating_rules
from gamification_service.domain import wallet as fold
from gamification_service.domain.badges import BadgeDef
from gamification_service.domain.levels import progress


def wallet_events(
    user_id: str, entry: Mapping[str, Any], applied: fold.Applied, badge: BadgeDef | None
) -> list[Event]:
    """What applying ``entry`` announces: credits, debits, a level-up, a badge."""
    if applied.outcome != "applied":
        return []
    state = applied.state
    change = {
        "user_id": user_id,
        "entry_key": entry["key"],
        "kind": entry["kind"],
        "reason": entry.get("reason", ""),
        "balances": dict(state.balances),
        "level": state.level,
        "ref": dict(entry.get("ref") or {}),
    }
    events: list[Event] = []
    if applied.credited:
        events.append(contract.CurrencyCredited(**change, amounts=applied.credited))
    if applied.debited:
        events.append(contract.CurrencySpent(**change, amounts=applied.debited))
    if applied.leveled_up:
        xp = state.balances.get("xp", 0)
        events.append(
            contract.LevelUp(
                user_id=user_id,
                level=applied.level_after,
                previous_level=applied.level_before,
                xp=xp,
                xp_to_next_level=progress(xp).xp_to_next_level,
            )
        )
    if badge is not None:
        events.append(
            contract.BadgeAwarded(
                user_id=user_id,
                badge_id=badge.id,
                name=badge.name,
                description=badge.description,
                category=badge.category,
                rarity=badge.rarity,
                tier=badge.tier,
                family=badge.family,
                secret=badge.secret,
                reward=badge.payout,
            )
        )
    return events


def rating_changed(link: Mapping[str, Any]) -> contract.RatingChanged:
    """What appending a match to a player's rating chain announces (``link``: the chain's
    next link, ``domain.ratings.after_match``)."""
    return contract.RatingChanged(
        user_id=link["user_id"],
        category=link["category"],
        match_id=link["match_id"],
        method=link["method"],
        result=link["result"],
        rank=link["rank"],
        before=link["before"],
        after=link["after"],
        delta=link["delta"],
        peak=round(link["peak"], 4),
        provisional=rating_rules.is_provisional(link["sigma"]),
    )
