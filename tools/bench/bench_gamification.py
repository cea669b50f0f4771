#!/usr/bin/env python3
"""gamification-service benchmark: leaderboards with 1,000,000 members, and task.completed
events credited per second — each against its ceiling, in the same run, on the same servers.

    .venv/bin/python tools/bench/bench_gamification.py [--members 1000000] [--seconds 10]
        [--conns 32] [--events 2000] [--event-users 200]

Starts its own Redis and FerretDB and a local token issuer, runs gamification-service as a
real process with one uvicorn worker (benchlib.Stack), and measures:

* ``GET /api/gamification/leaderboards/xp?limit=100`` (top 100) and
  ``GET /api/gamification/leaderboards/xp/me?window=5`` (rank and the 11 members around a
  random member, real RS256 tokens) with wrk — against the same Redis commands sent raw
  with redis-py (pipelined exactly as the service sends them) and against redis-benchmark's
  ``ZRANGE … 0 99 WITHSCORES`` as the server's ceiling;
* ``task.completed`` end to end with one worker: N events appended to ``events.tasks`` at
  once, timed until the consumer group has nothing pending or undelivered; then checked
  (one ledger entry per event, wallets and the xp board updated).

Load generator and servers share this machine's cores, so the figures compare rows of the
same run, not absolute capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

from benchlib import Stack, loop_figures, print_table, run_loop, run_wrk, wrk_figures  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from deepiri_kit.events import new_event  # noqa: E402

DB = "bench_gamification"
BOARD = "lb:xp:all"  # what GET /leaderboards/xp reads (period=all)


def member(i: int) -> str:
    return f"user-{i:07d}"


async def fill_board(redis: Redis, members: int) -> float:
    """``members`` users with random XP, stored as the service stores them (negated)."""
    rng = random.Random(7)  # noqa: S311 - reproducible data
    started = time.perf_counter()
    chunk = 20_000
    for start in range(0, members, chunk):
        mapping = {
            member(i): -float(rng.randint(0, 500_000))
            for i in range(start, min(members, start + chunk))
        }
        await redis.zadd(BOARD, mapping)
    return time.perf_counter() - started


async def raw_top(redis: Redis) -> None:
    """Boards.top: ZRANGE 0 99 WITHSCORES + ZCARD in one pipeline, plus the names HMGET."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrange(BOARD, 0, 99, withscores=True)
        pipe.zcard(BOARD)
        members, _ = await pipe.execute()
    await redis.hmget("lb:names", [m for m, _ in members])


async def raw_around(redis: Redis, members: int) -> None:
    """Boards.around: ZRANK + ZCARD pipelined, then the window, plus the names HMGET."""
    user = member(random.randrange(members))  # noqa: S311
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrank(BOARD, user)
        pipe.zcard(BOARD)
        rank, _ = await pipe.execute()
    window = await redis.zrange(BOARD, max(0, rank - 5), rank + 5, withscores=True)
    await redis.hmget("lb:names", [m for m, _ in window])


def redis_benchmark(port: int, conns: int) -> dict[str, Any]:
    out = (
        subprocess.run(
            [
                "redis-benchmark",
                "-p",
                str(port),
                "-c",
                str(conns),
                "-n",
                "50000",
                "--csv",
                "ZRANGE",
                BOARD,
                "0",
                "99",
                "WITHSCORES",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        .stdout.strip()
        .splitlines()
    )
    header = [h.strip('"') for h in out[0].split(",")]
    values = [v.strip('"') for v in out[-1].split(",")]
    data = dict(zip(header, values, strict=False))
    return {
        "req_s": float(data["rps"]),
        "p50_ms": float(data["p50_latency_ms"]),
        "p99_ms": float(data["p99_latency_ms"]),
    }


async def events_throughput(
    redis: Redis, mongo_uri: str, events: int, users: int
) -> dict[str, Any]:
    stream = "events.tasks"
    envelopes = [
        new_event(
            "task.completed",
            source="bench",
            user_id=f"worker-{i % users:04d}",
            data={
                "task_id": uuid.uuid4().hex[:24],
                "completion_id": uuid.uuid4().hex,
                "kind": "todo",
                "difficulty": random.choice(["trivial", "easy", "medium", "hard"]),  # noqa: S311
                "priority": "normal",
                "completed_at": datetime.now(UTC).isoformat(),
                "on_time": True,
            },
        )
        for i in range(events)
    ]
    started = time.perf_counter()
    async with redis.pipeline(transaction=False) as pipe:
        for e in envelopes:
            pipe.xadd(stream, {"envelope": e.encode()})
        await pipe.execute()
    while True:
        groups = await redis.xinfo_groups(stream)
        group = next((g for g in groups if g["name"] == "gamification-service"), None)
        if group is not None and not group["pending"] and not group["lag"]:
            break
        if time.perf_counter() - started > 900:
            raise SystemExit(f"events not drained after 900 s: {group}")
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
    ledger = client[DB]["ledger"]
    tasks = await ledger.count_documents({"kind": "task"})
    badges = await ledger.count_documents({"kind": "badge"})
    await client.close()
    on_board = await redis.zcard("lb:xp:all")
    if tasks != events:
        raise SystemExit(f"expected {events} task ledger entries, found {tasks}")
    return {
        "events": events,
        "seconds": elapsed,
        "events_s": events / elapsed,
        "badge_entries": badges,
        "users_on_board": on_board,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--event-users", type=int, default=200)
    args = parser.parse_args()

    with Stack("gamification") as stack:
        redis = Redis(port=stack.redis.port, decode_responses=True)
        fill_s = await fill_board(redis, args.members)
        print(
            f"filled {BOARD} with {await redis.zcard(BOARD):,} members in {fill_s:.1f}s", flush=True
        )
        service = stack.service("gamification-service", DB, {"CONSUMER_BLOCK_MS": "50"})
        rng = random.Random(3)  # noqa: S311
        tokens = [
            stack.issuer.token(
                member(rng.randrange(args.members)), "gamification:read", lifetime=3600
            )
            for _ in range(200)
        ]

        rows: list[tuple[str, dict[str, Any]]] = []
        top_path = "/api/gamification/leaderboards/xp?limit=100"
        me_path = "/api/gamification/leaderboards/xp/me?window=5"
        run_wrk(
            service.url + top_path, tokens, "GET", top_path, None, args.conns, 2, "30s"
        )  # warm-up
        rows.append(
            (
                "top-100 via service (wrk)",
                wrk_figures(
                    run_wrk(
                        service.url + top_path,
                        tokens,
                        "GET",
                        top_path,
                        None,
                        args.conns,
                        args.seconds,
                        "30s",
                    )
                ),
            )
        )
        rows.append(
            (
                "top-100 raw redis-py (same commands)",
                loop_figures(*await run_loop(lambda: raw_top(redis), args.conns, args.seconds)),
            )
        )
        rows.append(
            (
                "around-me via service (wrk)",
                wrk_figures(
                    run_wrk(
                        service.url + me_path,
                        tokens,
                        "GET",
                        me_path,
                        None,
                        args.conns,
                        args.seconds,
                        "30s",
                    )
                ),
            )
        )
        rows.append(
            (
                "around-me raw redis-py (same commands)",
                loop_figures(
                    *await run_loop(
                        lambda: raw_around(redis, args.members), args.conns, args.seconds
                    )
                ),
            )
        )
        rows.append(
            (
                "ZRANGE 0 99 WITHSCORES (redis-benchmark)",
                redis_benchmark(stack.redis.port, args.conns),
            )
        )

        print_table(
            f"Leaderboard with {args.members:,} members, {args.conns} connections, "
            f"{args.seconds}s per row",
            rows,
        )

        result = await events_throughput(redis, stack.mongo.uri, args.events, args.event_users)
        print(f"\ntask.completed end to end, one worker ({args.event_users} users)")
        print(
            f"{'events':>8} {'seconds':>8} {'events/s':>9} {'badge entries':>14} {'users on xp board':>18}"
        )
        print(
            f"{result['events']:8d} {result['seconds']:8.2f} {result['events_s']:9.1f} "
            f"{result['badge_entries']:14d} {result['users_on_board'] - args.members:18d}"
        )
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
