#!/usr/bin/env python3
"""websocket-service benchmark: memory per idle authenticated socket and fan-out messages
per second, against a plain python-socketio server in the same run.

    .venv/bin/python tools/bench/bench_websocket.py [--sockets 2000] [--events 5000]

* Sockets: ``--sockets`` clients connect (each with its own user's access token) and stay
  idle; the server process's RSS growth per 1,000 sockets is reported, for websocket-service
  (one uvicorn worker) and for the plain server (tools/bench/socketio_echo.py, no auth).
* Fan-out: ``--events`` ``task.completed`` events are published on ``events.tasks`` for those
  users round-robin; messages per second are counted at the clients from the first publish to
  the last receipt — the whole path: stream → consumer (contract, inbox, trace span) → emit
  through the Redis manager → pub/sub → the user's socket. The ceilings: the plain server
  emitting the same number of messages to the same rooms from one ``fanout`` event, with an
  in-memory manager and with ``AsyncRedisManager``.

The clients speak Engine.IO 4 / Socket.IO 5 over raw WebSockets (the ``websockets`` library)
so that thousands fit in one light process; interoperability with the official client is
proven by tests/websocket/test_js_client.py. Starts its own Redis (tools/infra.py) and token
issuer (tests/support/tokens.py); servers and load share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

import httpx  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from deepiri_kit.contracts import tasks  # noqa: E402
from deepiri_kit.events import EventBus, event_envelope  # noqa: E402
from infra import RedisServer, free_port, wait_for_port  # noqa: E402
from support.processes import ServiceProcess, harness_env  # noqa: E402
from support.tokens import TokenIssuer  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Clients:
    """Raw Engine.IO/Socket.IO clients: connect with an auth payload, answer pings, count
    event packets and note when the last one arrived."""

    def __init__(self) -> None:
        self.received = 0
        self.last_at = 0.0
        self.connected = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.refused: list[str] = []
        self.failed: list[str] = []

    async def one(self, url: str, auth: dict[str, str], ready: asyncio.Event) -> None:
        try:
            await self._one(url, auth, ready)
        except Exception as exc:
            self.failed.append(f"{type(exc).__name__}: {exc}")
        finally:
            ready.set()  # a failed handshake must not hold its slot of the gate

    async def _one(self, url: str, auth: dict[str, str], ready: asyncio.Event) -> None:
        # No WebSocket-level keepalive: Engine.IO pings at its own level (answered below),
        # and thousands of library pings from one client process time themselves out.
        async with connect(
            url, max_size=2**20, compression=None, open_timeout=300, ping_interval=None
        ) as ws:
            opening = await ws.recv()
            assert str(opening).startswith("0"), opening
            await ws.send("40" + json.dumps(auth))
            answer = str(await ws.recv())
            while answer == "2":  # a ping before the connect's answer (a slow, loaded server)
                await ws.send("3")
                answer = str(await ws.recv())
            if not answer.startswith("40"):
                self.refused.append(answer)
                ready.set()
                return
            self.connected += 1
            if self.connected % 1000 == 0:
                print(f"  {self.connected} connected", file=sys.stderr, flush=True)
            ready.set()
            async for message in ws:
                if message == "2":
                    await ws.send("3")
                elif str(message).startswith("42") and not str(message).startswith(
                    '42["presence:'  # the friends' presence sent on connect
                ):
                    self.received += 1
                    self.last_at = time.perf_counter()

    async def open(self, url: str, auths: list[dict[str, str]], parallel: int = 64) -> None:
        gate = asyncio.Semaphore(parallel)

        async def start(auth: dict[str, str]) -> None:
            async with gate:
                ready = asyncio.Event()
                self.tasks.append(asyncio.create_task(self.one(url, auth, ready)))
                await asyncio.wait_for(ready.wait(), 600)

        await asyncio.gather(*(start(a) for a in auths))
        if self.refused:
            raise SystemExit(f"{len(self.refused)} refused, e.g. {self.refused[0]}")
        if self.failed:  # e.g. the server's keepalive timing out a client this loaded
            print(
                f"  {len(self.failed)} of {len(auths)} failed, e.g. {self.failed[0]}",
                file=sys.stderr,
                flush=True,
            )

    async def wait_for(self, count: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.received < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.received}/{count} messages arrived")
            if self.failed and self.received and time.perf_counter() - self.last_at > 10:
                # Some sockets failed: their users' messages never come.
                print(f"  {self.received}/{count} arrived", file=sys.stderr, flush=True)
                return
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def ws_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"


async def settle(pid: int) -> float:
    await asyncio.sleep(3)
    return rss_mb(pid)


async def bench_service(
    redis: RedisServer, issuer: TokenIssuer, sockets: int, events: int, tmp: Path
) -> dict[str, float]:
    env = {
        **harness_env(redis, _NoMongo(), issuer, "unused"),
        "WEB_CONCURRENCY": "1",
        "CONSUMER_BLOCK_MS": "100",
        "LOG_LEVEL": "WARNING",
    }
    process = ServiceProcess("websocket-service", free_port(), env, tmp).start()
    assert process.proc is not None
    try:
        pid = process.proc.pid
        before = await settle(pid)
        users = [f"bench-{i}" for i in range(sockets)]
        clients = Clients()
        started = time.perf_counter()
        await clients.open(
            ws_url(process.port), [{"token": issuer.token(u, lifetime=3600)} for u in users]
        )
        connect_s = time.perf_counter() - started
        after = await settle(pid)
        print(
            f"  websocket-service: {sockets} sockets, RSS {before:.1f} MB idle ->"
            f" {after:.1f} MB, connects {sockets / connect_s:.1f}/s",
            file=sys.stderr,
            flush=True,
        )
        metrics = (await asyncio.to_thread(httpx.get, f"{process.url}/metrics", timeout=10)).text
        live = next(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("deepiri_websocket_sockets ")
        )
        # Figures are per socket the server holds (a few may have failed under load).
        print(f"  live sockets: {live:.0f} of {sockets}", file=sys.stderr, flush=True)
        sockets = int(live)

        client = Redis(port=redis.port, decode_responses=True)
        bus = EventBus(client)
        now = datetime.now(UTC)
        envelopes = [
            event_envelope(
                tasks.TaskCompleted(
                    task_id=f"t{i}", kind="todo", difficulty="easy", completed_at=now, title="x"
                ),
                source="bench",
                user_id=users[i % sockets],
            )
            for i in range(events)
        ]
        start = time.perf_counter()
        for envelope in envelopes:
            await bus.publish(tasks.STREAM.name, envelope)
        published = time.perf_counter()
        await clients.wait_for(events, seconds=600)
        elapsed = clients.last_at - start
        await clients.close()
        await client.aclose()
        return {
            "rss_idle_mb": before,
            "rss_with_sockets_mb": after,
            "rss_per_1000_sockets_mb": (after - before) / sockets * 1000,
            "connects_per_s": sockets / connect_s,
            "fanout_msgs_per_s": clients.received / elapsed,
            "publish_s": published - start,
        }
    finally:
        process.stop()


class _NoMongo:
    """websocket-service has no MongoDB: nothing to point it at."""

    def env(self) -> dict[str, str]:
        return {}


async def bench_plain(redis_url: str | None, sockets: int, events: int) -> dict[str, float]:
    port = free_port()
    command = [sys.executable, str(ROOT / "tools" / "bench" / "socketio_echo.py"), str(port)]
    proc = await asyncio.create_subprocess_exec(*command, *([redis_url] if redis_url else []))
    try:
        await asyncio.to_thread(wait_for_port, port, 30)
        before = await settle(proc.pid)
        rooms = [f"room-{i}" for i in range(sockets)]
        clients = Clients()
        started = time.perf_counter()
        await clients.open(ws_url(port), [{"room": r} for r in rooms])
        connect_s = time.perf_counter() - started
        after = await settle(proc.pid)
        print(
            f"  plain ({redis_url or 'in-memory'}): {sockets} sockets, RSS {before:.1f} MB idle"
            f" -> {after:.1f} MB, connects {sockets / connect_s:.1f}/s",
            file=sys.stderr,
            flush=True,
        )
        # One more socket triggers the fan-out.
        payload = {
            "type": "task.completed",
            "id": "x" * 32,
            "occurred_at": "2026-11-30T12:00:00Z",
            "data": {"task_id": "t", "kind": "todo", "difficulty": "easy"},
            "traceparent": None,
        }
        async with connect(
            ws_url(port), compression=None, open_timeout=300, ping_interval=None
        ) as trigger:
            await trigger.recv()
            await trigger.send("40{}")
            await trigger.recv()
            start = time.perf_counter()
            await trigger.send(
                "421"
                + json.dumps(["fanout", {"count": events, "rooms": rooms, "payload": payload}])
            )
            await clients.wait_for(events, seconds=600)
        elapsed = clients.last_at - start
        await clients.close()
        return {
            "rss_idle_mb": before,
            "rss_with_sockets_mb": after,
            "rss_per_1000_sockets_mb": (after - before) / sockets * 1000,
            "connects_per_s": sockets / connect_s,
            "fanout_msgs_per_s": clients.received / elapsed,
        }
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:  # 10,000 sockets take their time to close: the figures stand
            proc.kill()
            await proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp))
        redis.start()
        issuer = TokenIssuer()
        try:
            results = {
                "websocket-service": await bench_service(
                    redis, issuer, args.sockets, args.events, Path(tmp)
                ),
                "plain python-socketio": await bench_plain(None, args.sockets, args.events),
                "plain + AsyncRedisManager": await bench_plain(
                    f"redis://127.0.0.1:{redis.port}/1", args.sockets, args.events
                ),
            }
        finally:
            issuer.close()
            redis.stop()
    print(f"{args.sockets} idle sockets, {args.events} messages (one per user room)")
    for name, figures in results.items():
        shown = ", ".join(f"{k} {v:,.1f}" for k, v in figures.items())
        print(f"  {name:28s} {shown}")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
