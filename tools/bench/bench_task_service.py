#!/usr/bin/env python3
"""task-service benchmark: the list endpoint and create, against the raw MongoDB queries
they make, in the same run on the same servers.

    .venv/bin/python tools/bench/bench_task_service.py [--users 1000] [--tasks 100]

Starts its own FerretDB and Redis and a local token issuer, runs task-service as a real
process with one uvicorn worker (benchlib.Stack), seeds ``users x tasks`` tasks, then
measures with wrk (random user per request, real RS256 tokens):

* ``GET /api/tasks?limit=20`` (the newest 20 of a random user's 100 tasks), and the raw
  pymongo ``find`` that endpoint sends, as the ceiling;
* ``POST /api/tasks``, and the raw writes it makes (log version 1 with its event, insert the
  task, publish to the stream, mark it delivered), as the ceiling.

FerretDB 1.24 on SQLite pushes no filter but ``_id`` equality down and uses no secondary
index (``explain``: ``filterPushdown: false``, plan ``SCAN``), so its list query scans every
task in the collection: seconds at 100,000 tasks, where MongoDB answers from the
``owner_created`` index. At full size the list is therefore timed over a few sequential
requests; to measure what the service itself adds, the list is measured again on a second
database small enough (``--small-users`` x tasks) for the scan to be quick. The service's
overhead does not depend on the collection's size: it serialises 20 tasks either way.

Load generator and servers share this machine's cores, so figures compare rows of the same
run, not absolute capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

from benchlib import Stack, percentile, run_loop, run_wrk  # noqa: E402
from bson import ObjectId  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

DB = "bench_tasks"
LIST_PATH = "/api/tasks?limit=20"
SERVICE_ENV = {
    # The limiter still runs (one Redis script per request) but never refuses.
    "RATE_LIMIT_PER_MINUTE": "100000000",
    "RATE_LIMIT_BURST": "1000000",
    # FerretDB scans the whole collection for a list (see above): seconds at full size, past
    # the 5 s a pod allows a query, which would make every row a 503.
    "MONGO_SOCKET_TIMEOUT_SECONDS": "120",
}


def row(
    name: str, conns: int, count: int, seconds: float, p50_ms: float, p99_ms: float
) -> dict[str, Any]:
    return {
        "what": name,
        "conns": conns,
        "req_s": count / seconds if seconds else 0.0,
        "p50_ms": p50_ms,
        "p99_ms": p99_ms,
    }


async def run_count(
    operation: Callable[[], Awaitable[Any]], count: int
) -> tuple[int, float, list[float]]:
    """Run ``operation`` ``count`` times, one after another."""
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        await operation()
        latencies.append(time.perf_counter() - start)
    return count, time.perf_counter() - started, latencies


async def seed(mongo_uri: str, db: str, users: list[str], per_user: int) -> None:
    from datetime import UTC, datetime, timedelta

    from task_service.domain import tasks as rules

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    tasks = client[db]["tasks"]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(1)  # noqa: S311 - reproducible seed data
    batch: list[dict[str, Any]] = []
    for u, user in enumerate(users):
        for i in range(per_user):
            at = base + timedelta(minutes=u * per_user + i)
            fields = {
                "title": f"Task {i} of {user}",
                "notes": "seeded for the benchmark",
                "priority": rng.choice(["low", "normal", "high", "urgent"]),
                "tags": rng.sample(["work", "home", "study", "health"], 2),
                "estimated_minutes": rng.randint(5, 120),
            }
            batch.append({"_id": ObjectId(), **rules.new_task(user, fields, at)})
        if len(batch) >= 2000:
            await tasks.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await tasks.insert_many(batch, ordered=False)
    await client.close()


async def raw_list(
    mongo_uri: str, db: str, users: list[str], conns: int, seconds: float, count: int = 0
) -> dict[str, Any]:
    """The query GET /api/tasks?limit=20 sends (see TaskStore.page), without the service;
    ``count`` > 0: that many sequential queries instead of a timed run."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, maxPoolSize=max(conns, 10)
    )
    tasks = client[db]["tasks"]

    async def query() -> None:
        owner = random.choice(users)  # noqa: S311
        await (
            tasks.find({"$and": [{"owner": owner}, {"deleted_at": None}]})
            .sort([("created_at", -1), ("_id", -1)])
            .limit(21)
            .to_list()
        )

    if count:
        done, elapsed, latencies = await run_count(query, count)
    else:
        await run_loop(query, conns, 1.0)  # warm the pool
        done, elapsed, latencies = await run_loop(query, conns, seconds)
    await client.close()
    return row(
        "raw pymongo: list query",
        conns,
        done,
        elapsed,
        percentile(latencies, 50),
        percentile(latencies, 99),
    )


async def service_list_sequential(url: str, tokens: list[str], count: int) -> dict[str, Any]:
    """``count`` sequential list requests (wrk cannot bound a run by count)."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=300) as http:

        async def request() -> None:
            token = random.choice(tokens)  # noqa: S311
            response = await http.get(LIST_PATH, headers={"Authorization": f"Bearer {token}"})
            response.raise_for_status()

        done, elapsed, latencies = await run_count(request, count)
    return row(
        "GET /api/tasks?limit=20",
        1,
        done,
        elapsed,
        percentile(latencies, 50),
        percentile(latencies, 99),
    )


async def paired_list(
    mongo_uri: str, db: str, url: str, tokens: list[str], users: list[str], pairs: int
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Raw query and list request alternately for the same user, one at a time, so drift in
    FerretDB's speed hits both alike; returns both rows and the median of the differences.
    The HTTP side pays its client's cost (httpx) as the raw side pays pymongo's."""
    import httpx

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    tasks = client[db]["tasks"]
    raw_ms: list[float] = []
    api_ms: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for i in range(pairs):
            index = random.randrange(len(users))  # noqa: S311
            start = time.perf_counter()
            await (
                tasks.find({"$and": [{"owner": users[index]}, {"deleted_at": None}]})
                .sort([("created_at", -1), ("_id", -1)])
                .limit(21)
                .to_list()
            )
            middle = time.perf_counter()
            response = await http.get(
                LIST_PATH, headers={"Authorization": f"Bearer {tokens[index]}"}
            )
            end = time.perf_counter()
            response.raise_for_status()
            if i >= 10:  # the first few warm both paths up
                raw_ms.append(middle - start)
                api_ms.append(end - middle)
    await client.close()
    differences = sorted(a - r for a, r in zip(api_ms, raw_ms, strict=True))
    elapsed_raw, elapsed_api = sum(raw_ms), sum(api_ms)

    def paired_row(name: str, values: list[float], elapsed: float) -> dict[str, Any]:
        return row(name, 1, len(values), elapsed, percentile(values, 50), percentile(values, 99))

    return (
        paired_row("raw pymongo: list query (paired)", raw_ms, elapsed_raw),
        paired_row("GET /api/tasks?limit=20 (paired)", api_ms, elapsed_api),
        differences[len(differences) // 2] * 1000,
    )


async def raw_create(
    mongo_uri: str, redis_port: int, users: list[str], conns: int, seconds: float
) -> dict[str, Any]:
    """The writes POST /api/tasks makes (TaskStore.create), without the service."""
    from deepiri_kit.clock import utcnow
    from deepiri_kit.events import new_event, outbox_entry
    from task_service.domain import tasks as rules

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, maxPoolSize=max(conns, 10)
    )
    db = client[DB]  # the same collections the service writes, at the same size
    redis = Redis(port=redis_port)

    async def create() -> None:
        oid = ObjectId()
        task = rules.new_task(random.choice(users), {"title": "raw"}, utcnow())  # noqa: S311
        entry = outbox_entry(
            "bench.raw", new_event("task.created", source="b", user_id="u", data={})
        )
        key = f"{oid}:{1:012d}"  # deepiri_kit.chain.link_id
        versions, tasks = db["task_versions"], db["tasks"]
        await versions.insert_one({"_id": key, "state": task, "_outbox": [entry]})
        await tasks.insert_one({"_id": oid, **task})
        await redis.xadd("bench.raw", {"envelope": entry["payload"]})
        await db["task_versions_delivered"].insert_one({"_id": key, "at": utcnow()})

    await run_loop(create, conns, 1.0)
    count, elapsed, latencies = await run_loop(create, conns, seconds)
    await client.close()
    await redis.aclose()
    return row(
        "raw pymongo+redis: create writes",
        conns,
        count,
        elapsed,
        percentile(latencies, 50),
        percentile(latencies, 99),
    )


def wrk_row(name: str, conns: int, result: dict[str, Any]) -> dict[str, Any]:
    return row(
        name,
        conns,
        result["requests"],
        result["duration_us"] / 1e6,
        result["p50_us"] / 1000,
        result["p99_us"] / 1000,
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n| {'what':34} | conns | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} |")
    print(f"|{'-' * 36}|-------|----------|---------|---------|")
    for r in rows:
        if "section" in r:
            print(f"| **{r['section']}** | | | | |")
            continue
        print(
            f"| {r['what']:34} | {r['conns']:5} | {r['req_s']:8.{2 if r['req_s'] < 10 else 0}f} | {r['p50_ms']:7.2f} | {r['p99_ms']:7.2f} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=100, help="tasks per user")
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    parser.add_argument("--conns", type=int, default=4, help="connections for throughput rows")
    parser.add_argument(
        "--small-users", type=int, default=2, help="users in the small list database"
    )
    parser.add_argument("--pairs", type=int, default=300, help="alternating list pairs")
    parser.add_argument(
        "--big-list-requests", type=int, default=5, help="sequential list requests at full size"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: run `make tools` (tools/bootstrap.sh installs it)", file=sys.stderr)
        return 1

    load_before = os.getloadavg()
    with Stack("tasks") as stack:
        mongo_server, redis_server, issuer = stack.mongo, stack.redis, stack.issuer

        users = [f"user-{i:04d}" for i in range(args.users)]
        small_users = users[: args.small_users]
        big = stack.service("task-service", DB, SERVICE_ENV)
        started = time.perf_counter()
        asyncio.run(seed(mongo_server.uri, DB, users, args.tasks))
        print(
            f"seeded {args.users} users x {args.tasks} tasks in {time.perf_counter() - started:.1f}s"
        )
        tokens = [issuer.token(u, "tasks:read tasks:write", lifetime=3600) for u in users]
        small_tokens = tokens[: args.small_users]
        body = json.dumps({"title": "Benchmark task", "priority": "high", "tags": ["bench"]})
        rows: list[dict[str, Any]] = []
        big_label = f"{args.users * args.tasks:,} tasks"

        run_wrk(big.url, tokens, "POST", "/api/tasks", body, 1, 2)  # warm-up: JWKS, pools
        rows.append(
            {"section": f"list, {big_label} (sequential, {args.big_list_requests} requests)"}
        )
        rows.append(
            asyncio.run(raw_list(mongo_server.uri, DB, users, 1, 0, args.big_list_requests))
        )
        rows.append(asyncio.run(service_list_sequential(big.url, tokens, args.big_list_requests)))
        rows.append({"section": f"create, {big_label}"})
        for conns in (1, args.conns):
            rows.append(
                asyncio.run(
                    raw_create(mongo_server.uri, redis_server.port, users, conns, args.seconds)
                )
            )
            rows.append(
                wrk_row(
                    "POST /api/tasks",
                    conns,
                    run_wrk(big.url, tokens, "POST", "/api/tasks", body, conns, args.seconds),
                )
            )
        big.stop()

        small_db = DB + "_small"
        small = stack.service("task-service", small_db, SERVICE_ENV)
        asyncio.run(seed(mongo_server.uri, small_db, small_users, args.tasks))
        rows.append(
            {"section": f"list, {args.small_users * args.tasks:,} tasks (what the service adds)"}
        )
        run_wrk(small.url, small_tokens, "GET", LIST_PATH, None, 1, 2)  # warm-up
        raw_paired, api_paired, added_ms = asyncio.run(
            paired_list(
                mongo_server.uri, small_db, small.url, small_tokens, small_users, args.pairs
            )
        )
        rows += [raw_paired, api_paired]
        for conns in (1, args.conns):
            rows.append(
                asyncio.run(raw_list(mongo_server.uri, small_db, small_users, conns, args.seconds))
            )
            rows.append(
                wrk_row(
                    "GET /api/tasks?limit=20",
                    conns,
                    run_wrk(small.url, small_tokens, "GET", LIST_PATH, None, conns, args.seconds),
                )
            )
        print_table(rows)
        measured = {(r["what"], r["conns"]): r for r in rows if "what" in r}
        wrk_added = (
            measured[("GET /api/tasks?limit=20", 1)]["p50_ms"]
            - measured[("raw pymongo: list query", 1)]["p50_ms"]
        )
        print(
            f"\nservice adds at p50 over the raw list query on {args.small_users * args.tasks:,} "
            f"tasks: {wrk_added:.2f} ms (wrk, 1 connection, against the raw run just before it); "
            f"{added_ms:.2f} ms (median of {args.pairs} alternating pairs, which also counts the "
            "Python HTTP client's own time). Goal: at most 2 ms. At full size one FerretDB scan "
            "takes seconds and varies by more than the service could add."
        )
        load_after = os.getloadavg()
        print(
            f"machine: {os.cpu_count()} cores shared by wrk, the service, FerretDB and Redis; "
            f"1-min load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
        )
        return 0


if __name__ == "__main__":
    sys.exit(main())
