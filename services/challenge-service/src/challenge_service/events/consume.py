"""What the service consumes: streams, and each event decoded into its contract
(``deepiri_kit.contracts``) and passed on as it is. The use cases an event triggers live in
service.py; workers.py wires them to the kit's consumer."""

from __future__ import annotations

from typing import Protocol

from deepiri_kit.contracts.challenge import STREAM, ItemCreated
from deepiri_kit.events import Envelope, Handler

GROUP = "challenge-service"


class Reactions(Protocol):
    async def on_item_created(self, owner: str, event: ItemCreated) -> None: ...


def handlers(reactions: Reactions) -> dict[str, Handler]:
    """The consumer's stream → handler map. An event that breaks its contract raises, is
    retried and ends in the dead-letter stream."""

    async def on_items(envelope: Envelope) -> None:
        if envelope.type == ItemCreated.TYPE and envelope.user_id is not None:
            await reactions.on_item_created(envelope.user_id, ItemCreated.decode(envelope))

    return {STREAM.name: on_items}
