#!/usr/bin/env python3
"""challenge-service benchmark: challenge generation through the whole path with the model
endpoint (the local OpenAI-protocol fake) answering at once, and progress events counted per
second — each against a ceiling measured in the same run, on the same servers.

    .venv/bin/python tools/bench/bench_challenges.py [--seconds 10] [--events 2000]

Starts its own Redis and FerretDB, user-service (the client-credentials token), ai-service
(the fake behind it, its answer cache and per-user limits off) and challenge-service, one
uvicorn worker each.

Generation rows:
* ``POST /api/agent/challenges`` on ai-service directly, with a service token (ceiling: what
  ai-service and the fake cost);
* ``POST /api/challenges/generate`` as a player: the JWT check, the agent call (token reused),
  the checks, the chain's insert and its projection. The difference is challenge-service's
  own overhead per generated challenge.

Progress: ``--events`` task.completed events (distinct tasks, spread over ``--players``
players, each with an accepted solo challenge that cannot be finished) are put on the bus at
once; the figure is events counted per second until the consumer group has drained, checked
by the players' progress adding up to the events. Ceiling: the kit's consumer with the same
inbox and a handler that does nothing, over the same number of events on the same servers
(what reading, de-duplicating and acknowledging costs, before any counting).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

from benchlib import Stack, print_table, run_wrk, wrk_figures  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from deepiri_kit.contracts.agent import CHALLENGES_PATH, SCOPE  # noqa: E402
from deepiri_kit.contracts.tasks import STREAM as TASKS  # noqa: E402
from deepiri_kit.contracts.tasks import TaskCompleted  # noqa: E402
from deepiri_kit.events import Consumer, Envelope, MongoInbox, event_envelope  # noqa: E402
from infra import free_port  # noqa: E402
from support.agent import challenge_draft, challenge_request  # noqa: E402
from support.openai_fake import OpenAIFake  # noqa: E402
from support.users import PREFIX  # noqa: E402

DB = "bench_challenges"
SECRET = "challenge-service-secret-for-bench"  # noqa: S105 - a scratch stack
CLIENTS = [
    {
        "client_id": "challenge-service",
        "name": "challenge-service",
        "secret": SECRET,
        "grant_types": ["client_credentials"],
        "scope": SCOPE,
    }
]
RW = "challenges:read challenges:write"


def load() -> str:
    """The machine's load average now (1, 5, 15 min): every figure is printed with it."""
    return "load average " + ", ".join(f"{n:.2f}" for n in os.getloadavg())


def service_token(users_url: str) -> str:
    response = httpx.post(
        f"{users_url}{PREFIX}/oauth/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=("challenge-service", SECRET),
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def events(players: list[str], count: int) -> list[Envelope]:
    now = datetime.now(UTC)
    return [
        event_envelope(
            TaskCompleted(
                task_id=uuid.uuid4().hex[:24],
                kind="todo",
                difficulty="easy",
                completed_at=now,
                tags=["deep-work"],
            ),
            source="bench",
            user_id=players[i % len(players)],
        )
        for i in range(count)
    ]


async def drain(redis: Redis, stream: str, group: str, started: float) -> float:
    while True:
        try:
            groups = await redis.xinfo_groups(stream)
        except Exception:
            groups = []
        found = next((g for g in groups if g["name"] == group), None)
        if found is not None and not found["pending"] and found["lag"] == 0:
            return time.perf_counter() - started
        if time.perf_counter() - started > 900:
            raise SystemExit(f"{group} not drained after 900 s: {found}")
        await asyncio.sleep(0.02)


async def publish_all(redis: Redis, stream: str, envelopes: list[Envelope]) -> float:
    started = time.perf_counter()
    async with redis.pipeline(transaction=False) as pipe:
        for envelope in envelopes:
            pipe.xadd(stream, {"envelope": envelope.encode()})
        await pipe.execute()
    return started


async def ceiling(redis: Redis, mongo_uri: str, count: int) -> float:
    """The kit's consumer, the same inbox, a handler that does nothing: events per second."""
    stream, group = "bench.ceiling", "bench-ceiling"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    inbox = MongoInbox(client[DB]["ceiling_consumed"])

    async def nothing(envelope: Envelope) -> None:
        return None

    consumer = Consumer(redis, group=group, handlers={stream: nothing}, inbox=inbox, block_ms=50)
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    await asyncio.sleep(0.5)
    started = await publish_all(redis, stream, events(["ceiling"], count))
    elapsed = await drain(redis, stream, group, started)
    stop.set()
    await running
    await client.close()
    return count / elapsed


def accepted_challenges(url: str, tokens: dict[str, str]) -> None:
    """One accepted solo challenge per player (100 tasks: nobody finishes during the run)."""
    for player, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        made = httpx.post(
            f"{url}/api/challenges/generate",
            json={"kind": "solo", "difficulty": "medium"},
            headers=headers,
            timeout=60,
        )
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        started = httpx.post(f"{url}/api/challenges/{cid}/accept", headers=headers, timeout=60)
        assert started.json()["status"] == "active", (player, started.text)


async def progress_rate(
    redis: Redis, url: str, tokens: dict[str, str], count: int
) -> tuple[float, int]:
    started = await publish_all(redis, TASKS.name, events(list(tokens), count))
    elapsed = await drain(redis, TASKS.name, "challenge-service", started)
    counted = 0
    async with httpx.AsyncClient(timeout=60) as client:
        for token in tokens.values():
            headers = {"Authorization": f"Bearer {token}"}
            [active] = (await client.get(f"{url}/api/challenges", headers=headers)).json()
            counted += active["players"][0]["progress"]
    return count / elapsed, counted


async def debug(port: int) -> Any:
    redis = Redis(port=port, decode_responses=True)
    try:
        return [await redis.xinfo_groups(TASKS.name), await redis.xlen("dlq.challenge-service")]
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--players", type=int, default=50)
    args = parser.parse_args()
    fake = OpenAIFake()
    goal = {"metric": "tasks_tagged", "target": 100, "tag": "deep-work", "skill_id": None}
    fake.answer(challenge_draft(goal=goal, milestones=[]))
    rows = []
    with Stack("challenges") as stack:
        port = free_port()
        issuer = f"http://127.0.0.1:{port}{PREFIX}"
        trust = {"JWT_ISSUER": issuer, "JWKS_URL": f"{issuer}/oauth/jwks"}
        users = stack.service(
            "user-service",
            f"{DB}_users",
            {"OAUTH_CLIENTS": json.dumps(CLIENTS), **trust},
            port=port,
        )
        agent = stack.service(
            "ai-service",
            f"{DB}_agent",
            {
                **trust,
                "OPENAI_BASE_URL": fake.url,
                "OPENAI_API_KEY": fake.api_key,
                "OPENAI_MODEL": "fake-model",
                "ANSWER_CACHE_SECONDS": "0",
                "USER_RATE_PER_MINUTE": "0",
                "RATE_LIMIT_PER_MINUTE": "0",
            },
        )
        challenges = stack.service(
            "challenge-service",
            DB,
            {
                "PYAGENT_URL": agent.url,
                "TOKEN_URL": f"{issuer}/oauth/token",
                "AGENT_CLIENT_SECRET": SECRET,
                "CONSUMER_BLOCK_MS": "50",
                "RATE_LIMIT_PER_MINUTE": "0",
            },
        )
        body = json.dumps(challenge_request())
        direct = run_wrk(
            agent.url, [service_token(users.url)], "POST", CHALLENGES_PATH, body, 1, args.seconds
        )
        rows.append(("ai-service directly (ceiling), c=1", wrk_figures(direct)))
        players = [f"player-{i:03d}" for i in range(args.players)]
        tokens = {p: stack.issuer.token(p, RW, lifetime=3600) for p in players}
        through = run_wrk(
            challenges.url,
            list(tokens.values()),
            "POST",
            "/api/challenges/generate",
            json.dumps({"kind": "solo", "difficulty": "medium"}),
            1,
            args.seconds,
        )
        rows.append(("POST /api/challenges/generate, c=1", wrk_figures(through)))
        print_table("Challenge generation, the fake model answering at once", rows, 40)
        print(f"({load()})")
        ceiling_p50 = dict(rows)["ai-service directly (ceiling), c=1"]["p50_ms"]
        through_p50 = dict(rows)["POST /api/challenges/generate, c=1"]["p50_ms"]
        print(f"challenge-service's overhead: +{through_p50 - ceiling_p50:.2f} ms p50")

        # Progress: every player plays one fresh challenge (the generated ones above are
        # offers nobody accepted; they take no events).
        fresh = {p: stack.issuer.token(f"{p}-run", RW, lifetime=3600) for p in players}
        accepted_challenges(challenges.url, fresh)

        async def measure() -> tuple[float, str, float, str, int]:
            redis = Redis(port=stack.redis.port, decode_responses=True)
            try:
                floor = await ceiling(redis, stack.mongo.uri, args.events)
                floor_load = load()
                renamed = {f"{p}-run": t for p, t in fresh.items()}
                rate, counted = await progress_rate(redis, challenges.url, renamed, args.events)
                return floor, floor_load, rate, load(), counted
            finally:
                await redis.aclose()

        floor, floor_load, rate, rate_load, counted = asyncio.run(measure())
        if counted != args.events:
            print(challenges.logs()[-6000:])
            print(asyncio.run(debug(stack.redis.port)))
            raise SystemExit(f"expected {args.events} counted, found {counted}")
        print(
            f"\ntask.completed → progress, one worker, {args.players} players, {args.events} events"
        )
        print(f"{'kit consumer, no-op handler (ceiling)':<44} {floor:9.1f} events/s ({floor_load})")
        print(
            f"{'challenge-service progress':<44} {rate:9.1f} events/s ({rate / floor:.0%}; "
            f"{rate_load})"
        )
    fake.close()


if __name__ == "__main__":
    main()
