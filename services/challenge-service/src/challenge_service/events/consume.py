"""What the service consumes (group ``challenge-service``), each event decoded into its kit
contract and handed on as it is:

* ``events.tasks`` ``task.completed`` — progress of the owner's task goals and streaks;
* ``events.skills`` ``skill.leveled`` — progress of ``skill_xp`` goals;
* ``events.social`` — who is friends with whom (duels and groups are among friends).

Other types are acknowledged and ignored; an event that breaks its contract is retried and
dead-lettered (``dlq.challenge-service``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from deepiri_kit.contracts import skills, social, tasks
from deepiri_kit.contracts.skills import SkillLeveled
from deepiri_kit.contracts.tasks import TaskCompleted
from deepiri_kit.events import Envelope, Handler

GROUP = "challenge-service"


class Reactions(Protocol):
    async def on_task_completed(
        self, user_id: str, event_id: str, event: TaskCompleted
    ) -> None: ...
    async def on_skill_leveled(self, user_id: str, event_id: str, event: SkillLeveled) -> None: ...
    async def on_friendship(self, a: str, b: str, friends: bool, at: datetime) -> None: ...


def handlers(reactions: Reactions) -> dict[str, Handler]:
    """The consumer's stream → handler map."""

    async def on_tasks(envelope: Envelope) -> None:
        if envelope.type == TaskCompleted.TYPE and envelope.user_id is not None:
            event = TaskCompleted.decode(envelope)
            await reactions.on_task_completed(envelope.user_id, envelope.id, event)

    async def on_skills(envelope: Envelope) -> None:
        if envelope.type == SkillLeveled.TYPE:
            event = SkillLeveled.decode(envelope)
            await reactions.on_skill_leveled(event.user_id, envelope.id, event)

    async def on_social(envelope: Envelope) -> None:
        if not social.STREAM.declares(envelope.type):
            return
        event = social.STREAM.decode(envelope)
        at = envelope.occurred_at
        if isinstance(event, social.FriendAdded):
            await reactions.on_friendship(event.user_id, event.friend_id, True, at)
        elif isinstance(event, social.FriendRemoved):
            await reactions.on_friendship(event.user_id, event.friend_id, False, at)
        elif isinstance(event, social.Blocked):
            await reactions.on_friendship(event.user_id, event.blocked_id, False, at)

    return {
        tasks.STREAM.name: on_tasks,
        skills.STREAM.name: on_skills,
        social.STREAM.name: on_social,
    }
