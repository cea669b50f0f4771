"""What task-service consumes (consumer group ``task-service``), decoded with the kit's
contracts and handed to the use cases as it is:

* ``events.users`` ``user.deleted`` (user-service): the account's tasks, versions, edges and
  Idempotency-Key records are erased (``TaskService.erase_account``). Other user events are
  ignored.

Its own stream, ``events.tasks``, is read by gamification-service (and, as they arrive,
analytics and notification services), each decoding it with ``deepiri_kit.contracts.tasks``.
An event that breaks its contract raises (``ContractError``), is retried and ends in the
dead-letter stream ``dlq.task-service``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Protocol

from deepiri_kit.contracts import users as user_events
from deepiri_kit.events import Envelope, Handler

GROUP: Final = "task-service"
USERS: Final = user_events.STREAM.name


class Reactions(Protocol):
    """The use cases events trigger (service.py)."""

    async def erase_account(self, user_id: str, deleted_at: datetime) -> object: ...


class Handlers:
    """One handler per consumed stream."""

    def __init__(self, reactions: Reactions) -> None:
        self.reactions = reactions

    def streams(self) -> dict[str, Handler]:
        return {USERS: self.users}

    async def users(self, envelope: Envelope) -> None:
        if envelope.type == user_events.USER_DELETED:
            event = user_events.UserDeleted.decode(envelope)
            await self.reactions.erase_account(event.user_id, envelope.occurred_at)
