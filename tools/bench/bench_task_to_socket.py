#!/usr/bin/env python3
"""The core loop's latency: from a task completed over HTTP to the official JavaScript client
receiving the events, at sustained completion rates, against the same run's ceilings.

    .venv/bin/python tools/bench/bench_task_to_socket.py [--rates 5,10,20,50,100,200]
        [--seconds 10] [--users 50] [--target-ms 50] [--keep-going]

task-service, gamification-service, notification-service and websocket-service run as real
processes (one uvicorn worker each) on their own Redis and FerretDB. ``--users`` sockets of
the official ``socket.io-client`` (one Node.js process, tools/bench/js_arrivals.mjs, one
socket and token per user) hold connections to websocket-service. Each user's tasks are
created first; then tasks are completed at each ``--rates`` value (completions per second,
spread over the users) for ``--seconds``. For every completion, from sending ``POST
/api/tasks/{id}/complete``:

* the HTTP response (the write: nothing can reach a socket before it is done);
* ``task.completed`` at the JS client (task-service → ``events.tasks`` → websocket-service →
  Redis manager → socket);
* ``gamification.currency_credited`` at the JS client (→ gamification-service's credit →
  ``events.gamification`` → websocket-service → socket): the core loop;
* ``notification.created`` for that credit (→ notification-service stores it and emits it →
  websocket-service's manager → socket).

Each rate's line ends with the 1-minute load average when it finished (the machine is
shared). The run stops escalating after a rate the loop no longer holds (completions fall
behind the rate, or events arrive later than the wait) unless ``--keep-going``; the last line
names the highest rate whose p99 stayed within ``--target-ms`` for each event.

The ceilings, same run: the datastore commands a completion costs, sent raw — one FerretDB
insert (pymongo, one connection, serial) and one Redis ``XADD`` — and how many of each one
completion makes across the services (tools/bench/profile_completion.py counts them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests"), str(ROOT / "tools" / "bench")]

import httpx  # noqa: E402
from benchlib import Stack, percentile  # noqa: E402

from support.sockets import node  # noqa: E402

EVENTS = ("task.completed", "gamification.currency_credited", "notification.created")


class Arrivals:
    """The official JS client holding one socket per token; notes when each task's events
    arrive (epoch seconds, the machine's clock on both sides)."""

    def __init__(self, url: str, tokens: list[str]) -> None:
        self.at: dict[tuple[str, str], float] = {}
        self.proc = subprocess.Popen(
            [node(), str(ROOT / "tools" / "bench" / "js_arrivals.mjs"), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("\n".join(tokens) + "\n")
        self.proc.stdin.close()
        ready = json.loads(self.proc.stdout.readline() or "{}")
        if ready.get("kind") != "ready":
            raise SystemExit(f"the JS client did not connect: {ready}")
        self.sockets = int(ready["sockets"])

    async def follow(self) -> None:
        assert self.proc.stdout is not None
        while line := await asyncio.to_thread(self.proc.stdout.readline):
            event = json.loads(line)
            if event["event"] == "notification.created" and event.get("type") != (
                "gamification.currency_credited"
            ):
                continue
            self.at.setdefault((event["event"], event["task_id"]), event["at"] / 1000)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


async def run_rate(
    http: httpx.AsyncClient,
    arrivals: Arrivals,
    queue: list[tuple[dict[str, str], str]],
    rate: float,
) -> dict[str, float]:
    sent: dict[str, float] = {}
    responded: dict[str, float] = {}
    retries: list[str] = []
    start = time.time()

    async def complete(i: int, headers: dict[str, str], task_id: str) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.time()))
        sent[task_id] = time.time()
        while True:
            response = await http.post(
                f"/api/tasks/{task_id}/complete", json={"actual_minutes": 5}, headers=headers
            )
            if response.status_code != 503:
                break
            # FerretDB's SQLite is busy: retry as a client would (Retry-After), and count it.
            retries.append(task_id)
            await asyncio.sleep(float(response.headers.get("retry-after", "0.2")))
        responded[task_id] = time.time()
        if response.status_code != 200:
            raise SystemExit(f"complete: {response.status_code} {response.text}")

    await asyncio.gather(*(complete(i, h, t) for i, (h, t) in enumerate(queue)))
    elapsed = max(responded.values()) - start
    deadline = time.monotonic() + 60
    wanted = [(e, t) for e in EVENTS for t in sent]
    while any(w not in arrivals.at for w in wanted) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    figures = {
        "rate": rate,
        "achieved": len(sent) / elapsed,
        "retried": len(retries),
        "http_p50": percentile([responded[t] - sent[t] for t in sent], 50),
        "http_p99": percentile([responded[t] - sent[t] for t in sent], 99),
    }
    for event in EVENTS:
        got = [arrivals.at[(event, t)] - sent[t] for t in sent if (event, t) in arrivals.at]
        # Not there within the wait: the path fell behind (counted as missing, not timed).
        figures[f"{event} missing"] = len(sent) - len(got)
        figures[f"{event} p50"] = percentile(got, 50) if got else float("nan")
        figures[f"{event} p99"] = percentile(got, 99) if got else float("nan")
    return figures


def report(r: dict[str, float]) -> None:
    cells = [f"{r['http_p50']:6.1f} / {r['http_p99']:7.1f}"]
    for e in EVENTS:
        missing = f" ({r[f'{e} missing']:.0f} late)" if r[f"{e} missing"] else ""
        cells.append(f"{r[f'{e} p50']:7.1f} / {r[f'{e} p99']:7.1f}{missing}")
    print(
        f"  {r['rate']:6.0f}  {r['achieved']:10.1f}  {r['retried']:4.0f}  "
        + "  ".join(cells)
        + f"  load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def holds(r: dict[str, float]) -> bool:
    """The loop kept up: completions at (nearly) the rate, every event within the wait."""
    return r["achieved"] >= 0.9 * r["rate"] and not any(r[f"{e} missing"] for e in EVENTS)


def verdict(results: list[dict[str, float]], target_ms: float) -> str:
    best = []
    for e in EVENTS:
        ok = [r["rate"] for r in results if holds(r) and r[f"{e} p99"] <= target_ms]
        best.append(f"{e} {max(ok):g}/s" if ok else f"{e} none")
    return f"highest rate with p99 <= {target_ms:g} ms: " + ", ".join(best)


async def ceilings(stack: Stack) -> dict[str, float]:
    """The raw datastore round trips a completion is made of, serial, on the same servers."""
    from pymongo import AsyncMongoClient
    from redis.asyncio import Redis

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo.uri)
    redis = Redis(port=stack.redis.port)
    figures: dict[str, float] = {}
    try:
        collection = mongo["bench_raw"]["docs"]
        latencies = []
        began = time.perf_counter()
        while time.perf_counter() - began < 3:
            t = time.perf_counter()
            await collection.insert_one({"_id": uuid.uuid4().hex, "state": {"title": "x" * 200}})
            latencies.append(time.perf_counter() - t)
        figures["insert/s"] = len(latencies) / (time.perf_counter() - began)
        figures["insert p50"] = percentile(latencies, 50)
        figures["insert p99"] = percentile(latencies, 99)
        latencies = []
        began = time.perf_counter()
        while time.perf_counter() - began < 2:
            t = time.perf_counter()
            await redis.xadd("bench.raw", {"envelope": "x" * 600}, maxlen=10_000, approximate=True)
            latencies.append(time.perf_counter() - t)
        figures["xadd/s"] = len(latencies) / (time.perf_counter() - began)
        figures["xadd p50"] = percentile(latencies, 50)
    finally:
        await mongo.close()
        await redis.aclose()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="5,10,20,50,100,200")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--target-ms", type=float, default=50)
    parser.add_argument("--keep-going", action="store_true")
    args = parser.parse_args()
    results: list[dict[str, float]] = []
    rates = [float(r) for r in args.rates.split(",")]
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)"
    )
    with Stack("core_loop") as stack:
        quick = {"CONSUMER_BLOCK_MS": "100"}
        tasks = stack.service("task-service", "bench_tasks", quick)
        stack.service("gamification-service", "bench_game", quick)
        stack.service("notification-service", "bench_notes", quick)
        sockets = stack.service("websocket-service", "bench_sockets", quick)
        raw = await ceilings(stack)
        print(
            f"ceilings, same servers: FerretDB insert {raw['insert/s']:.0f}/s serial"
            f" (p50 {raw['insert p50']:.1f} ms, p99 {raw['insert p99']:.1f} ms);"
            f" Redis XADD {raw['xadd/s']:.0f}/s (p50 {raw['xadd p50']:.2f} ms)",
            flush=True,
        )
        users = [f"bench-{i}" for i in range(args.users)]
        issuer = stack.issuer
        headers = {
            u: {
                "Authorization": f"Bearer {issuer.token(u, 'tasks:read tasks:write', lifetime=7200)}"
            }
            for u in users
        }
        arrivals = Arrivals(sockets.url, [issuer.token(u, lifetime=7200) for u in users])
        follower = asyncio.create_task(arrivals.follow())
        print(
            f"{args.users} users, one socket each (official socket.io-client, one Node process),"
            f" {args.seconds:g} s per rate; ms from sending the completion",
            flush=True,
        )
        print(
            "  rate/s  achieved/s  503s  HTTP p50/p99  task.completed p50/p99"
            "  credited p50/p99  notification p50/p99  load",
            flush=True,
        )
        try:
            async with httpx.AsyncClient(base_url=tasks.url, timeout=120) as http:
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
                    await asyncio.sleep(3)  # the creations' events are delivered first
                    results.append(await run_rate(http, arrivals, queue, rate))
                    report(results[-1])
                    if not holds(results[-1]) and not args.keep_going:
                        print(f"  (the loop does not hold {rate:g}/s: higher rates not run)")
                        break
        finally:
            follower.cancel()
            arrivals.close()
    print(verdict(results, args.target_ms))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
