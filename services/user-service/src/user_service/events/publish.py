"""What user-service publishes, on ``events.users`` (the contracts are the kit's:
:mod:`deepiri_kit.contracts.users`): account changes through the account log's outbox (a
change and its events are one insert), and mail to send, published at once (the person asks
again if the bus was down; the link's secret is then never at rest in MongoDB); and, on
``events.skills`` (:mod:`deepiri_kit.contracts.skills`), skill level-ups and unlocks through
the skill log's outbox; and, on ``events.social`` (:mod:`deepiri_kit.contracts.social`),
friendships made and ended and blocks, through the social log's outbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deepiri_kit.contracts import Event, skills, social, users
from deepiri_kit.events import Envelope, event_envelope, outbox_entry

STREAM = users.STREAM.name
SOURCE = "user-service"


def event(data: Event, user_id: str, *, event_id: str | None = None) -> Envelope:
    return event_envelope(data, source=SOURCE, user_id=user_id, event_id=event_id)


SKILLS_STREAM = skills.STREAM.name


def skill_outbox(user_id: str, change_id: str, events: Sequence[Event]) -> list[dict[str, Any]]:
    """Skill events as outbox entries of the change ``change_id`` that decides them; their
    ids derive from it, so a relay or a replay repeats them."""
    return [
        outbox_entry(
            SKILLS_STREAM,
            event_envelope(e, source=SOURCE, user_id=user_id, event_id=f"{change_id}:{n}"),
        )
        for n, e in enumerate(events, 1)
    ]


SOCIAL_STREAM = social.STREAM.name


def social_outbox(user_id: str, change_id: str, events: Sequence[Event]) -> list[dict[str, Any]]:
    """Social events as outbox entries of the pair's change ``change_id`` (ids derive from it);
    the envelope's ``user_id`` is the person who acted."""
    return [
        outbox_entry(
            SOCIAL_STREAM,
            event_envelope(e, source=SOURCE, user_id=user_id, event_id=f"{change_id}:{n}"),
        )
        for n, e in enumerate(events, 1)
    ]
