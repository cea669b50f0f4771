#!/usr/bin/env python3
"""From a task completed over HTTP to the event at the user's socket: latency at a sustained
completion rate, against the HTTP completion alone in the same run.

    .venv/bin/python tools/bench/bench_task_to_socket.py [--rates 5,10] [--seconds 10] [--users 50]

``--users`` sockets (raw Engine.IO 4 / Socket.IO 5 clients, one per user, each with its own
token) hold connections to websocket-service; each user's tasks are created first, then
completed at each ``--rates`` value (completions per second, spread over the users) for
``--seconds``. For every completion: the HTTP response time of ``POST
/api/tasks/{id}/complete`` (the ceiling: nothing can arrive before the write is done), and the
time from sending that request to the ``task.completed`` event at the user's socket (task-service
→ ``events.tasks`` → websocket-service's consumer → Redis manager → socket). Task-service and
websocket-service run as real processes (one uvicorn worker each) on their own Redis and
FerretDB; load generator and servers share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests"), str(ROOT / "tools" / "bench")]

import httpx  # noqa: E402
from benchlib import percentile  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from infra import FerretDBServer, RedisServer, free_port  # noqa: E402
from support.processes import ServiceProcess, harness_env  # noqa: E402
from support.tokens import TokenIssuer  # noqa: E402


class Arrivals:
    """Raw clients that note when each task's ``task.completed`` arrives."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def hold(self, url: str, token: str, ready: asyncio.Event) -> None:
        async with connect(url, compression=None, open_timeout=60) as ws:
            await ws.recv()
            await ws.send("40" + json.dumps({"token": token}))
            answer = str(await ws.recv())
            if not answer.startswith('40{"sid"'):
                raise SystemExit(f"refused: {answer}")
            ready.set()
            async for message in ws:
                if message == "2":
                    await ws.send("3")
                elif str(message).startswith('42["task.completed"'):
                    _, payload = json.loads(str(message)[2:])
                    self.at[payload["data"]["task_id"]] = time.perf_counter()

    async def open(self, url: str, tokens: list[str]) -> None:
        for token in tokens:
            ready = asyncio.Event()
            self.tasks.append(asyncio.create_task(self.hold(url, token, ready)))
            await asyncio.wait_for(ready.wait(), 60)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def run_rate(
    http: httpx.AsyncClient,
    arrivals: Arrivals,
    queue: list[tuple[dict[str, str], str]],
    rate: float,
) -> dict[str, float]:
    sent: dict[str, float] = {}
    responded: dict[str, float] = {}
    retries: list[str] = []
    start = time.perf_counter()

    async def complete(i: int, headers: dict[str, str], task_id: str) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent[task_id] = time.perf_counter()
        while True:
            response = await http.post(
                f"/api/tasks/{task_id}/complete", json={"actual_minutes": 5}, headers=headers
            )
            if response.status_code != 503:
                break
            # FerretDB's SQLite is busy: retry as a client would (Retry-After), and count it.
            retries.append(task_id)
            await asyncio.sleep(float(response.headers.get("retry-after", "0.2")))
        responded[task_id] = time.perf_counter()
        if response.status_code != 200:
            raise SystemExit(f"complete: {response.status_code} {response.text}")

    await asyncio.gather(*(complete(i, h, t) for i, (h, t) in enumerate(queue)))
    deadline = time.monotonic() + 60
    while any(t not in arrivals.at for t in sent) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    missing = [t for t in sent if t not in arrivals.at]
    if missing:
        raise SystemExit(f"{len(missing)} events never arrived")
    http_s = [responded[t] - sent[t] for t in sent]
    socket_s = [arrivals.at[t] - sent[t] for t in sent]
    elapsed = max(responded.values()) - start
    return {
        "rate": rate,
        "achieved": len(sent) / elapsed,
        "retried": len(retries),
        "http_p50": percentile(http_s, 50),
        "http_p99": percentile(http_s, 99),
        "socket_p50": percentile(socket_s, 50),
        "socket_p99": percentile(socket_s, 99),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="5,10")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis, mongo = RedisServer(root), FerretDBServer(root)
        redis.start()
        mongo.start()
        issuer = TokenIssuer()
        env = {
            **harness_env(redis, mongo, issuer, "bench_tasks"),
            "CONSUMER_BLOCK_MS": "100",
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": "1",
        }
        tasks = ServiceProcess("task-service", free_port(), env, root).start()
        sockets = ServiceProcess("websocket-service", free_port(), env, root).start()
        arrivals = Arrivals()
        try:
            users = [f"bench-{i}" for i in range(args.users)]
            headers = {
                u: {
                    "Authorization": f"Bearer {issuer.token(u, 'tasks:read tasks:write', lifetime=3600)}"
                }
                for u in users
            }
            await arrivals.open(
                f"ws://127.0.0.1:{sockets.port}/socket.io/?EIO=4&transport=websocket",
                [issuer.token(u, lifetime=3600) for u in users],
            )
            results = []
            async with httpx.AsyncClient(base_url=tasks.url, timeout=60) as http:
                for rate in rates:
                    count = int(rate * args.seconds)
                    queue: list[tuple[dict[str, str], str]] = []
                    for i in range(count):
                        user = users[i % len(users)]
                        created = await http.post(
                            "/api/tasks",
                            json={"title": f"t{i}", "difficulty": "easy"},
                            headers=headers[user],
                        )
                        queue.append((headers[user], created.json()["id"]))
                    await asyncio.sleep(2)  # the creations' events are delivered first
                    results.append(await run_rate(http, arrivals, queue, rate))
        finally:
            await arrivals.close()
            sockets.stop()
            tasks.stop()
            issuer.close()
            mongo.stop()
            redis.stop()
    print(f"{args.users} users with one socket each, {args.seconds:g} s per rate")
    print(
        "  rate/s  achieved/s  503 retries  HTTP complete p50/p99 ms  completion→socket p50/p99 ms"
    )
    for r in results:
        print(
            f"  {r['rate']:6.0f}  {r['achieved']:10.1f}  {r['retried']:11.0f}"
            f"  {r['http_p50']:10.1f} / {r['http_p99']:7.1f}"
            f"     {r['socket_p50']:10.1f} / {r['socket_p99']:7.1f}"
        )
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
