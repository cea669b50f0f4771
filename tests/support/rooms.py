"""What a write-only Socket.IO emitter put on the Redis manager's channel, decoded as
python-socketio's pub/sub managers decode it (JSON ``{method, event, data, room, namespace}``),
so a test sees what every websocket-service pod would deliver, without running one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RoomEmits:
    """Emits seen on one channel, in order."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    def to(self, room: str, event: str | None = None) -> list[dict[str, Any]]:
        """The payloads emitted to ``room`` (under ``event`` if given)."""
        return [
            m["data"][0]
            for m in self.messages
            if m.get("method") == "emit"
            and m.get("room") == room
            and (event is None or m.get("event") == event)
        ]


@asynccontextmanager
async def listening(redis: Any, channel: str) -> AsyncIterator[RoomEmits]:
    """Subscribe to ``channel`` (an asyncio Redis client) for the duration of the block."""
    emits = RoomEmits()
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)

    async def read() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                emits.messages.append(json.loads(message["data"]))

    task = asyncio.create_task(read())
    try:
        yield emits
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()


class RoomListener:
    """The same, for synchronous (system) tests: ``with RoomListener(redis, channel) as l:``
    then ``l.poll()`` collects what arrived since the last call."""

    def __init__(self, redis: Any, channel: str) -> None:
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self.channel = channel
        self.emits = RoomEmits()

    def __enter__(self) -> RoomListener:
        self.pubsub.subscribe(self.channel)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pubsub.unsubscribe(self.channel)
        self.pubsub.close()

    def poll(self) -> RoomEmits:
        while (message := self.pubsub.get_message(timeout=0.05)) is not None:
            if message["type"] == "message":
                self.emits.messages.append(json.loads(message["data"]))
        return self.emits
