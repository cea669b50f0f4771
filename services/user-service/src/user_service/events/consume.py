"""What user-service consumes (consumer group ``user-service``), each event decoded into its
kit contract (``deepiri_kit.contracts``) and handed to the use cases as it is:

* ``events.tasks`` ``task.completed`` (task-service): envelope ``user_id`` = the task's
  owner; the skills the task trains gain XP (``service/skills.py``), once per completion.

Other event types are ignored here; the activity recorder (``events/activity.py``, a group
of its own) reads every activity stream. An event that breaks its contract raises (``ContractError``),
is retried and ends in the dead-letter stream ``dlq.user-service``.
"""

from __future__ import annotations

from typing import Final, Protocol

from deepiri_kit.contracts import tasks as task_events
from deepiri_kit.events import Envelope, Handler

GROUP: Final = "user-service"
TASKS: Final = task_events.STREAM.name


class Reactions(Protocol):
    async def on_task_completed(
        self, event_id: str, user_id: str, event: task_events.TaskCompleted
    ) -> object: ...


class Handlers:
    """One handler per consumed stream."""

    def __init__(self, reactions: Reactions) -> None:
        self.reactions = reactions

    def streams(self) -> dict[str, Handler]:
        return {TASKS: self.tasks}

    async def tasks(self, envelope: Envelope) -> None:
        if envelope.type != task_events.TASK_COMPLETED:
            return
        if not envelope.user_id:
            raise ValueError(f"{envelope.type} {envelope.id} has no user_id")
        event = task_events.TaskCompleted.decode(envelope)
        await self.reactions.on_task_completed(envelope.id, envelope.user_id, event)
