"""Socket.IO in tests: websocket-service's app served in-process by uvicorn (a real
WebSocket server on loopback, in the test's event loop), a recording python-socketio client,
and the official JavaScript client (tests/websocket/js) run by Node.js."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio
import uvicorn

from infra import die_with_parent, free_port
from support.waiting import PATIENCE

JS_DIR = Path(__file__).resolve().parents[1] / "websocket" / "js"


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """``app`` served on a free loopback port with its lifespan; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws="websockets-sansio", lifespan="on", log_config=None
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@dataclass
class Recorder:
    """A python-socketio client that keeps every event it receives."""

    client: Any
    events: list[tuple[str, Any]] = field(default_factory=list)
    refused: list[Any] = field(default_factory=list)
    disconnects: list[Any] = field(default_factory=list)

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def wait_for(self, name: str, count: int = 1, timeout: float = PATIENCE) -> list[Any]:
        async with asyncio.timeout(timeout):
            while len(self.of(name)) < count:
                await asyncio.sleep(0.02)
        return self.of(name)


async def connect(
    url: str,
    *,
    auth: Any = None,
    headers: Mapping[str, str] | None = None,
    reconnection: bool = False,
) -> Recorder:
    """A connected client (``socketio.exceptions.ConnectionError`` if refused: the
    ``connect_error`` data is in ``Recorder.refused`` of the client given in the exception's
    ``recorder`` attribute)."""
    client = socketio.AsyncClient(reconnection=reconnection)
    recorder = Recorder(client)

    @client.on("*")
    async def anything(event: str, data: Any = None) -> None:
        recorder.events.append((event, data))

    @client.on("connect_error")
    async def refused(data: Any = None) -> None:
        recorder.refused.append(data)

    @client.on("disconnect")
    async def gone(reason: Any = None) -> None:
        recorder.disconnects.append(reason)

    try:
        await client.connect(
            url,
            auth=auth,
            headers=dict(headers or {}),
            transports=["websocket"],
            socketio_path="/socket.io",
            wait_timeout=10,
        )
    except socketio.exceptions.ConnectionError as exc:
        exc.recorder = recorder  # type: ignore[attr-defined]
        raise
    return recorder


def node() -> str:
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("node is not installed (tools/bootstrap.sh installs it)")
    return found


def js_installed() -> bool:
    return (JS_DIR / "node_modules" / "socket.io-client" / "package.json").is_file()


class JsClient:
    """tests/websocket/js/client.mjs in Node.js: the official socket.io-client, driven by
    JSON lines on stdin (commands) and stdout (what happened, read by a thread)."""

    def __init__(self, url: str, auth: Mapping[str, Any] | None = None, **env: str) -> None:
        self.proc = subprocess.Popen(
            [node(), str(JS_DIR / "client.mjs"), url, json.dumps(dict(auth or {}))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=JS_DIR,
            text=True,
            env={**os.environ, **env},
            preexec_fn=die_with_parent(),
        )
        self.lines: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(json.loads(line))
        self._queue.put(None)  # the client exited

    def next(self, kind: str, timeout: float = PATIENCE) -> dict[str, Any]:
        """The next line of ``kind`` ("connect", "connect_error", "event", "disconnect",
        "ack"), skipping others (all are kept in ``lines``)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if message is None:
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"the JS client exited: {self.lines} {stderr}")
            self.lines.append(message)
            if message["kind"] == kind:
                return message
        raise AssertionError(f"no {kind!r} from the JS client in {timeout}s: {self.lines}")

    def received(self, event: str) -> list[Any]:
        """The data of every ``event`` received so far (taking in what is waiting)."""
        while True:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                break
            if message is None:
                self._queue.put(None)  # keep the exit for next()
                break
            self.lines.append(message)
        return [m["data"] for m in self.lines if m["kind"] == "event" and m["event"] == event]

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
