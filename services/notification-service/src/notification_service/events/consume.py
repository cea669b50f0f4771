"""What the service consumes: ``events.tasks``, ``events.gamification``, ``events.challenges``,
``events.social`` and ``events.users``,
each event decoded into its contract (``deepiri_kit.contracts``) and handed on as it is.
Types that make no notification are acknowledged and ignored."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from deepiri_kit.contracts import challenges, gamification, social, tasks, users
from deepiri_kit.contracts.challenges import ChallengeCompleted
from deepiri_kit.contracts.gamification import BadgeAwarded, CurrencyCredited, LevelUp
from deepiri_kit.contracts.social import FriendAdded, FriendRequested
from deepiri_kit.contracts.tasks import TaskCompleted
from deepiri_kit.contracts.users import (
    PasswordResetRequested,
    UserDeleted,
    UserRegistered,
    UserUpdated,
    VerificationRequested,
)
from deepiri_kit.events import Envelope, Handler

GROUP = "notification-service"
# Streams whose events only ever make a notification, whose id derives from the event id:
# handling one again finds it (or its tombstone, or the user's) and changes nothing, so the
# consumer's inbox is not needed for them. events.users keeps it (profiles, mail, erasure).
SELF_MARKING = frozenset(
    {tasks.STREAM.name, gamification.STREAM.name, challenges.STREAM.name, social.STREAM.name}
)


class Reactions(Protocol):
    async def on_credited(self, user_id: str, event_id: str, event: CurrencyCredited) -> None: ...
    async def on_level_up(self, user_id: str, event_id: str, event: LevelUp) -> None: ...
    async def on_badge(self, user_id: str, event_id: str, event: BadgeAwarded) -> None: ...
    async def on_task_completed(
        self, user_id: str, event_id: str, event: TaskCompleted
    ) -> None: ...
    async def on_challenge(
        self, user_id: str, event_id: str, event: ChallengeCompleted
    ) -> None: ...
    async def on_profile(
        self, user_id: str, event: UserRegistered | UserUpdated, at: datetime
    ) -> None: ...
    async def on_user_deleted(self, user_id: str) -> None: ...
    async def on_friend_requested(self, event_id: str, event: FriendRequested) -> None: ...
    async def on_friend_added(self, event_id: str, event: FriendAdded) -> None: ...
    async def on_mail(
        self, user_id: str, event_id: str, event: VerificationRequested | PasswordResetRequested
    ) -> None: ...


def handlers(reactions: Reactions) -> dict[str, Handler]:
    """The consumer's stream → handler map. An event that breaks its contract raises, is
    retried and ends in the dead-letter stream."""

    async def on_tasks(envelope: Envelope) -> None:
        user = envelope.user_id
        if user is not None and envelope.type == TaskCompleted.TYPE:
            await reactions.on_task_completed(user, envelope.id, TaskCompleted.decode(envelope))

    async def on_gamification(envelope: Envelope) -> None:
        if not gamification.STREAM.declares(envelope.type):
            return
        event = gamification.STREAM.decode(envelope)
        if isinstance(event, CurrencyCredited):
            await reactions.on_credited(event.user_id, envelope.id, event)
        elif isinstance(event, LevelUp):
            await reactions.on_level_up(event.user_id, envelope.id, event)
        elif isinstance(event, BadgeAwarded):
            await reactions.on_badge(event.user_id, envelope.id, event)

    async def on_challenges(envelope: Envelope) -> None:
        user = envelope.user_id
        if user is not None and envelope.type == ChallengeCompleted.TYPE:
            await reactions.on_challenge(user, envelope.id, ChallengeCompleted.decode(envelope))

    async def on_users(envelope: Envelope) -> None:
        if not users.STREAM.declares(envelope.type):
            return
        event = users.STREAM.decode(envelope)
        if isinstance(event, VerificationRequested | PasswordResetRequested):
            await reactions.on_mail(event.user_id, envelope.id, event)
        elif isinstance(event, UserDeleted):
            await reactions.on_user_deleted(event.user_id)
        elif isinstance(event, UserRegistered | UserUpdated):
            user = event.user_id or envelope.user_id
            if user is not None:
                await reactions.on_profile(user, event, envelope.occurred_at)

    async def on_social(envelope: Envelope) -> None:
        if envelope.type == FriendRequested.TYPE:
            await reactions.on_friend_requested(envelope.id, FriendRequested.decode(envelope))
        elif envelope.type == FriendAdded.TYPE:
            await reactions.on_friend_added(envelope.id, FriendAdded.decode(envelope))

    return {
        tasks.STREAM.name: on_tasks,
        gamification.STREAM.name: on_gamification,
        challenges.STREAM.name: on_challenges,
        users.STREAM.name: on_users,
        social.STREAM.name: on_social,
    }
