"""What gamification-service consumes (consumer group ``gamification-service``), each event
decoded into its kit contract (``deepiri_kit.contracts``) and handed to the use cases
(``service/reactions.py``) as it is:

* ``events.tasks`` ``task.completed`` (task-service): envelope ``user_id`` = the owner,
  envelope ``id`` = the idempotency key of a habit tap (todos pay once per task, dailies
  once per period);
* ``events.challenges`` ``challenge.completed`` (challenge-service): paid once per user and
  challenge (ledger key ``challenge:<user>:<challenge_id>``), whatever the event id;
* ``events.users`` ``user.registered`` / ``user.updated``: only the display name (or the
  username) is kept, for leaderboards; ``user.deleted``: everything of the account is
  erased and stays erased (``service/erasure.py``);
* ``events.social`` ``social.friend_added`` / ``social.friend_removed`` / ``social.blocked``
  (user-service): who is on whose friends' board. user-service numbers each pair's changes
  and derives the event id from the change (``<pair key>:<change number>:<n>``); the change
  number orders a pair's events whatever order they arrive in (``store/friends.py``).

Other event types on these streams are ignored. An event that breaks its contract raises
(``ContractError``), is retried and ends in the dead-letter stream
``dlq.gamification-service``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Protocol

import msgspec

from deepiri_kit.contracts import ContractError
from deepiri_kit.contracts import challenges as challenge_events
from deepiri_kit.contracts import social as social_events
from deepiri_kit.contracts import tasks as task_events
from deepiri_kit.contracts import users as user_events
from deepiri_kit.events import Envelope, Handler

GROUP: Final = "gamification-service"
TASKS, CHALLENGES, USERS, SOCIAL = (
    task_events.STREAM.name,
    challenge_events.STREAM.name,
    user_events.STREAM.name,
    social_events.STREAM.name,
)
SocialEvent = social_events.FriendAdded | social_events.FriendRemoved | social_events.Blocked
FRIENDSHIP_TYPES: Final = frozenset(
    {social_events.FRIEND_ADDED, social_events.FRIEND_REMOVED, social_events.BLOCKED}
)


class Reactions(Protocol):
    """The use cases events trigger (``service/reactions.py``)."""

    async def on_task_completed(
        self, event_id: str, user_id: str, event: task_events.TaskCompleted
    ) -> None: ...

    async def on_challenge_completed(
        self, event_id: str, user_id: str, event: challenge_events.ChallengeCompleted
    ) -> None: ...

    async def on_profile(self, user_id: str, name: str | None, at: datetime) -> None: ...

    async def on_user_deleted(self, user_id: str, deleted_at: datetime) -> object: ...

    async def on_social(self, change: int, event: SocialEvent) -> None: ...


def _user(envelope: Envelope) -> str:
    if not envelope.user_id:
        raise ValueError(f"{envelope.type} {envelope.id} has no user_id")
    return envelope.user_id


def change_number(envelope: Envelope) -> int:
    """The number of the pair's change a social event announces (its id is ``<pair key>:
    <change number>:<n>``, the pair key being length-prefixed ids that may hold colons)."""
    parts = envelope.id.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ContractError(f"{envelope.type} {envelope.id}: not <pair>:<change>:<n>")
    return int(parts[1])


class Handlers:
    """One handler per consumed stream."""

    def __init__(self, reactions: Reactions) -> None:
        self.reactions = reactions

    def streams(self) -> dict[str, Handler]:
        return {
            TASKS: self.tasks,
            CHALLENGES: self.challenges,
            USERS: self.users,
            SOCIAL: self.social,
        }

    async def tasks(self, envelope: Envelope) -> None:
        if envelope.type == task_events.TASK_COMPLETED:
            event = task_events.TaskCompleted.decode(envelope)
            await self.reactions.on_task_completed(envelope.id, _user(envelope), event)

    async def challenges(self, envelope: Envelope) -> None:
        if envelope.type == challenge_events.CHALLENGE_COMPLETED:
            user_id = _user(envelope)
            event = challenge_events.ChallengeCompleted.decode(envelope)
            await self.reactions.on_challenge_completed(envelope.id, user_id, event)

    async def users(self, envelope: Envelope) -> None:
        if envelope.type == user_events.USER_DELETED:
            deleted = user_events.UserDeleted.decode(envelope)
            await self.reactions.on_user_deleted(deleted.user_id, envelope.occurred_at)
        elif envelope.type in (user_events.USER_REGISTERED, user_events.USER_UPDATED):
            profile = user_events.STREAM.decode(envelope)
            assert isinstance(profile, user_events.UserRegistered | user_events.UserUpdated)
            user_id = profile.user_id or _user(envelope)
            named = [n for n in (profile.display_name, profile.username) if isinstance(n, str)]
            name = next((n for n in named if n), None)
            # A display name left out changes nothing; null (or empty) clears it.
            if name is not None or profile.display_name is not msgspec.UNSET:
                await self.reactions.on_profile(user_id, name, envelope.occurred_at)

    async def social(self, envelope: Envelope) -> None:
        # Only what changes a friendship (requests, follows and the rest are ignored).
        if envelope.type in FRIENDSHIP_TYPES:
            event = social_events.STREAM.decode(envelope)
            assert isinstance(event, SocialEvent)
            await self.reactions.on_social(change_number(envelope), event)
