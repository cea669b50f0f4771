"""What user-service publishes, on ``events.users`` (the contracts are the kit's:
:mod:`deepiri_kit.contracts.users`): account changes through the account log's outbox (a
change and its events are one insert), and mail to send, published at once (the person asks
again if the bus was down; the link's secret is then never at rest in MongoDB)."""

from __future__ import annotations

from deepiri_kit.contracts import Event, users
from deepiri_kit.events import Envelope, event_envelope

STREAM = users.STREAM.name
SOURCE = "user-service"


def event(data: Event, user_id: str, *, event_id: str | None = None) -> Envelope:
    return event_envelope(data, source=SOURCE, user_id=user_id, event_id=event_id)
