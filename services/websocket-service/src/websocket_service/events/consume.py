"""What the service consumes: the streams whose events reach users, each event decoded with
its contract (``deepiri_kit.contracts``) and passed on as it is. One group for all pods:
each event is taken by one of them, which emits it to the user's room through the Redis
manager, so it reaches the user's sockets on every pod."""

from __future__ import annotations

from typing import Protocol

from deepiri_kit.contracts import Event, Stream, challenges, gamification, tasks
from deepiri_kit.events import Envelope, Handler

GROUP = "websocket-service"
STREAMS: tuple[Stream, ...] = (tasks.STREAM, gamification.STREAM, challenges.STREAM)


class Reactions(Protocol):
    async def deliver(self, user_id: str, envelope: Envelope, event: Event) -> None: ...


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

    return {stream.name: handler(stream) for stream in streams}
