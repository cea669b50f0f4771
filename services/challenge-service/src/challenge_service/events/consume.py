"""What the service consumes (group ``challenge-service``), each event decoded into its kit
contract and handed on as it is:

* ``events.tasks`` ``task.completed`` — progress of the owner's task goals and streaks;
* ``events.skills`` ``skill.leveled`` — progress of ``skill_xp`` goals;
* ``events.social`` — who is friends with whom (duels and groups are among friends);
* ``events.users`` ``user.registered`` / ``user.updated`` — the player's time zone (their
  streak days), ``user.deleted`` — what is kept of them is erased;
* ``events.gamification`` ``gamification.level_up`` — the player's level (generation).

Other types are acknowledged and ignored; an event that breaks its contract is retried and
dead-lettered (``dlq.challenge-service``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from deepiri_kit.contracts import gamification, skills, social, tasks, users
from deepiri_kit.contracts.gamification import LevelUp
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
    async def on_level_up(self, user_id: str, event: LevelUp) -> None: ...
    async def on_profile(self, user_id: str, zone: str | None, at: datetime) -> None: ...
    async def on_user_deleted(self, user_id: str) -> None: ...


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

    async def on_users(envelope: Envelope) -> None:
        if envelope.user_id is None:
            return
        if envelope.type in (users.UserRegistered.TYPE, users.UserUpdated.TYPE):
            event = users.STREAM.decode(envelope)
            assert isinstance(event, users.UserRegistered | users.UserUpdated)
            zone = event.time_zone if isinstance(event.time_zone, str) else None
            await reactions.on_profile(envelope.user_id, zone, envelope.occurred_at)
        elif envelope.type == users.UserDeleted.TYPE:
            await reactions.on_user_deleted(envelope.user_id)

    async def on_gamification(envelope: Envelope) -> None:
        if envelope.type == LevelUp.TYPE and envelope.user_id is not None:
            await reactions.on_level_up(envelope.user_id, LevelUp.decode(envelope))

    return {
        tasks.STREAM.name: on_tasks,
        skills.STREAM.name: on_skills,
        social.STREAM.name: on_social,
        users.STREAM.name: on_users,
        gamification.STREAM.name: on_gamification,
    }


# The types each stream's handler acts on: the consumer acknowledges the others at once,
# without the inbox's two MongoDB commands (a task created or a coin credited is not ours).
WANTED: dict[str, frozenset[str]] = {
    tasks.STREAM.name: frozenset({TaskCompleted.TYPE}),
    skills.STREAM.name: frozenset({SkillLeveled.TYPE}),
    social.STREAM.name: frozenset(
        {social.FriendAdded.TYPE, social.FriendRemoved.TYPE, social.Blocked.TYPE}
    ),
    users.STREAM.name: frozenset(
        {users.UserRegistered.TYPE, users.UserUpdated.TYPE, users.UserDeleted.TYPE}
    ),
    gamification.STREAM.name: frozenset({LevelUp.TYPE}),
}

# Streams whose handler's own writes are its record of an event, so the consumer's inbox (a
# look-up before, an insert after: two of the few MongoDB commands an event costs) is not
# needed: ``task.completed`` is remembered under the event id, and progress counts only
# under unique keys (the task, the day; the task's claim). Handling one again writes
# nothing. The other streams keep the inbox (facts that are replaced, erasure).
SELF_MARKING = frozenset({tasks.STREAM.name})
