#!/usr/bin/env python3
"""The same-run ceiling of tools/bench/bench_websocket.py: a plain python-socketio server
(ASGI under uvicorn, the same WebSocket implementation and loop as websocket-service) with
no authentication, no consumer, no presence, no tracing. Each socket joins the room named in
its ``auth: {room}``; a ``fanout`` event ``{count, rooms, payload}`` emits ``count`` messages
round-robin to those rooms; ``echo`` answers its data.

    python tools/bench/socketio_echo.py PORT [REDIS_URL]

With REDIS_URL the emits go through ``AsyncRedisManager`` (as websocket-service's do)."""

from __future__ import annotations

import sys
from typing import Any

import socketio
import uvicorn


def main() -> None:
    port = int(sys.argv[1])
    manager = socketio.AsyncRedisManager(sys.argv[2]) if len(sys.argv) > 2 else None
    sio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"], client_manager=manager)

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.enter_room(sid, (auth or {}).get("room", "all"))

    @sio.on("echo")
    async def echo(sid: str, data: Any) -> Any:
        return data

    @sio.on("fanout")
    async def fanout(sid: str, data: dict[str, Any]) -> int:
        rooms = data["rooms"]
        for i in range(data["count"]):
            await sio.emit("msg", data["payload"], room=rooms[i % len(rooms)])
        return int(data["count"])

    uvicorn.run(
        socketio.ASGIApp(sio, socketio_path="/socket.io"),
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        loop="uvloop",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
