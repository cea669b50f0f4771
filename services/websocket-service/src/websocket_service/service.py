"""The use cases: delivering an event to its user's sockets, and presence among friends. No
HTTP and no Socket.IO here: the emitter is anything with Socket.IO's ``emit`` (the server,
whose Redis manager reaches every pod)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import msgspec
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from deepiri_kit import Forbidden, metrics, tracer, utcnow
from deepiri_kit.contracts import Event
from deepiri_kit.events import Envelope
from websocket_service.domain.deliveries import client_event, delivery_lag, room_of
from websocket_service.domain.presence import Presence, hidden_from, unique_ids
from websocket_service.events.publish import PRESENCE_CHANGED, FriendPresence
from websocket_service.store.friends import FriendStore
from websocket_service.store.presence import PresenceStore

EMITS = metrics.counter(
    "deepiri_websocket_emits_total",
    "Platform events emitted to users' rooms (rate = emits/s), by event type.",
    ("type",),
)
PRESENCE_CHANGES = metrics.counter(
    "deepiri_websocket_presence_changes_total",
    "Users coming online or going offline (``reaped``: offline because their pod died).",
    ("change",),
)
DELIVERY_LAG = metrics.histogram(
    "deepiri_websocket_delivery_lag_seconds",
    "From the event's occurred_at to its emission to the user's room.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


class Emitter(Protocol):
    async def emit(self, event: str, data: Any = None, *, room: str) -> None: ...


def friend_presence(presence: Presence) -> FriendPresence:
    return FriendPresence(
        user_id=presence.user_id, online=presence.online, last_seen=presence.last_seen
    )


class Realtime:
    def __init__(self, emitter: Emitter, presence: PresenceStore, friends: FriendStore) -> None:
        self.emitter = emitter
        self.presence = presence
        self.friends = friends
        self._tracer = tracer("websocket_service")

    async def deliver(self, user_id: str, envelope: Envelope, event: Event) -> None:
        """Emit ``event`` to every socket of ``user_id``, on whichever pod it is. Runs in the
        consumer's span, which continues the event's trace; the payload carries this emit's
        own context so the client's handling joins the same trace."""
        with self._tracer.start_as_current_span(
            f"socket.io emit {event.TYPE}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "socket.io",
                "messaging.destination.name": room_of(user_id),
                "messaging.message.id": envelope.id,
                "deepiri.event.type": event.TYPE,
            },
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            payload = client_event(
                event_id=envelope.id,
                occurred_at=envelope.occurred_at,
                event=event,
                traceparent=carrier.get("traceparent"),
            )
            await self.emitter.emit(event.TYPE, msgspec.to_builtins(payload), room=room_of(user_id))
        EMITS.labels(event.TYPE).inc()
        DELIVERY_LAG.observe(delivery_lag(envelope.occurred_at, utcnow()))

    # --- presence -----------------------------------------------------------------------

    async def seen(self, sockets: Iterable[tuple[str, str]]) -> None:
        """(user id, socket id) pairs connected now (on connect and every heartbeat); the
        friends of those who came online are told."""
        for user_id in await self.presence.renew(list(sockets)):
            PRESENCE_CHANGES.labels("online").inc()
            await self._tell_friends(user_id)

    async def gone(self, user_id: str, sid: str) -> None:
        if await self.presence.remove(user_id, sid):
            PRESENCE_CHANGES.labels("offline").inc()
            await self._tell_friends(user_id)

    async def reap(self) -> int:
        """Take offline the users whose pod died (their entries expired), telling their
        friends; any pod may run it, each user is taken once. Returns how many."""
        gone = await self.presence.reap()
        for user_id in gone:
            PRESENCE_CHANGES.labels("reaped").inc()
            await self._tell_friends(user_id)
        return len(gone)

    async def presence_of(self, user_ids: list[str]) -> list[Presence]:
        """Presence of any users (for services)."""
        return await self.presence.presence(unique_ids(user_ids))

    async def presence_for(self, viewer: str, user_ids: list[str]) -> list[Presence]:
        """What ``viewer`` may see: their friends' presence (and their own); Forbidden for
        anyone else."""
        asked = unique_ids(user_ids)
        hidden = hidden_from(viewer, asked, set(await self.friends.friends(viewer)))
        if hidden:
            raise Forbidden(
                "presence is shown to friends only; not your friends: " + ", ".join(hidden[:10])
            )
        return await self.presence.presence(asked)

    async def friends_presence(self, viewer: str) -> list[Presence]:
        """Every friend of ``viewer``, online or not."""
        return await self.presence.presence(await self.friends.friends(viewer))

    async def _tell_friends(self, user_id: str) -> None:
        friends = await self.friends.friends(user_id)
        if not friends:
            return
        [now] = await self.presence.presence([user_id])
        payload = msgspec.to_builtins(friend_presence(now))
        for friend in friends:
            await self.emitter.emit(PRESENCE_CHANGED, payload, room=room_of(friend))

    # --- the social graph (user-service's events.social) -----------------------------------

    async def befriended(self, a: str, b: str, at: datetime) -> None:
        """``a`` and ``b`` became friends: each learns the other's presence now."""
        if await self.friends.befriend(a, b, epoch_ms(at)):
            await self._show(a, b)
            await self._show(b, a)

    async def separated(self, a: str, b: str, at: datetime) -> None:
        await self.friends.separate(a, b, epoch_ms(at))

    async def erased(self, user_id: str, at: datetime) -> None:
        """A deleted account is nobody's friend any more."""
        await self.friends.forget(user_id, epoch_ms(at))

    async def _show(self, viewer: str, user_id: str) -> None:
        [now] = await self.presence.presence([user_id])
        payload = msgspec.to_builtins(friend_presence(now))
        await self.emitter.emit(PRESENCE_CHANGED, payload, room=room_of(viewer))


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
