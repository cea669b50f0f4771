"""What the service consumes: the streams whose events reach users, each event decoded with
its contract (``deepiri_kit.contracts``) and passed on as it is. One group for all pods:
each event is taken by one of them, which emits it to the user's room through the Redis
manager, so it reaches the user's sockets on every pod.

Also user-service's social graph, for presence among friends: ``events.social``
(``social.friend_added`` / ``social.friend_removed`` / ``social.blocked``) and, from
``events.users``, ``user.deleted`` (a deleted account is nobody's friend). Other types on
``events.users`` are not this service's business and are acknowledged unread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from deepiri_kit.contracts import Event, Stream, challenges, gamification, social, tasks, users
from deepiri_kit.events import Envelope, Handler

GROUP = "websocket-service"
STREAMS: tuple[Stream, ...] = (tasks.STREAM, gamification.STREAM, challenges.STREAM)


class Reactions(Protocol):
    async def deliver(self, user_id: str, envelope: Envelope, event: Event) -> None: ...

    async def befriended(self, a: str, b: str, at: datetime) -> None: ...

    async def separated(self, a: str, b: str, at: datetime) -> None: ...

    async def erased(self, user_id: str, at: datetime) -> None: ...


def handlers(reactions: Reactions, streams: tuple[Stream, ...] = STREAMS) -> dict[str, Handler]:
    """The consumer's stream → handler map. An event of a type its stream does not declare,
    or whose data breaks the contract, raises, is retried and ends in the dead letters;
    events without a user are nobody's to deliver."""

    def handler(stream: Stream) -> Handler:
        async def on_event(envelope: Envelope) -> None:
            event = stream.decode(envelope)
            if envelope.user_id is not None:
                await reactions.deliver(envelope.user_id, envelope, event)

        return on_event

    async def on_social(envelope: Envelope) -> None:
        event = social.STREAM.decode(envelope)
        at = envelope.occurred_at
        if isinstance(event, social.FriendAdded):
            await reactions.befriended(event.user_id, event.friend_id, at)
        elif isinstance(event, social.FriendRemoved):
            await reactions.separated(event.user_id, event.friend_id, at)
        elif isinstance(event, social.Blocked):
            await reactions.separated(event.user_id, event.blocked_id, at)

    async def on_user(envelope: Envelope) -> None:
        if envelope.type == users.USER_DELETED:
            deleted = users.UserDeleted.decode(envelope)
            await reactions.erased(deleted.user_id, envelope.occurred_at)

    return {
        **{stream.name: handler(stream) for stream in streams},
        social.STREAM.name: on_social,
        users.STREAM.name: on_user,
    }
