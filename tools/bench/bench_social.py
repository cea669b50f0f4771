#!/usr/bin/env python3
"""user-service social graph benchmark: friends-of-friends suggestions for a person with
1,000 friends in a 100,000-person graph, against the raw datastore queries in the same run.

    .venv/bin/python tools/bench/bench_social.py [--users 100000] [--friends 1000]
        [--partners 3] [--seconds 10] [--mongo-reference]

Starts its own Redis and FerretDB and a local token issuer (benchlib.Stack) and seeds the
real datastore directly: ``users`` (the account read model; one in ten is friends-only or
private) and ``social_edges`` (one document per pair, as the service projects them: the
target's 1,000 friends, then ``--partners`` random friends drawn by every other person, a
few pending requests and blocks of the target's). Then user-service runs as a real process
with one uvicorn worker; its first read builds the Redis index from ``social_edges``
(timed). Measured, each at 1 and 4 connections:

* ``GET /api/users/friends/suggestions?limit=20`` as the target (wrk, a real RS256 token);
* the same datastore queries sent raw (redis-py): the target's pairs (HGETALL), their
  friends' friends (SMEMBERS, one pipeline), the visibility of the best page of candidates
  (HMGET) — the ceiling (ranking included, as the service ranks); and the ranking alone;
* with ``--mongo-reference``, once: what the same read costs straight from ``social_edges``
  (the target's pairs, then one ``$match/$unwind/$group/$sort/$limit`` aggregation over
  their friends' pairs) — the path the Redis index replaced (FerretDB scans for both).

Load generator and servers share this machine's cores: compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

import httpx  # noqa: E402
from benchlib import Stack, loop_figures, print_table, run_loop, run_wrk, wrk_figures  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from user_service.domain.social import pair_key, rank_suggestions  # noqa: E402
from user_service.store.social_index import VISIBILITY, friends_key, pairs_key  # noqa: E402

DB = "bench_social"
PATH = "/api/users/friends/suggestions?limit=20"
LIMIT = 20
Document = dict[str, Any]


def uid(i: int) -> str:
    return f"u{i:06d}"


def edge(a: str, b: str, **ties: Any) -> Document:
    """A ``social_edges`` document as the service projects it (version = the chain seq)."""
    one, other = sorted((a, b))
    return {
        "_id": pair_key(one, other),
        "users": [one, other],
        "friends": False,
        "requested_by": None,
        "teammates": False,
        "invited_by": None,
        "blocked_by": [],
        "following": [],
        "rivals": [],
        "version": 2,
        **ties,
    }


def graph(users: int, friends: int, partners: int) -> dict[str, Document]:
    rng = random.Random(12)  # noqa: S311 - reproducible data
    target = uid(0)
    edges: dict[str, Document] = {}
    for i in range(1, friends + 1):
        e = edge(target, uid(i), friends=True)
        edges[e["_id"]] = e
    for i in range(1, users):
        for _ in range(partners):
            j = rng.randrange(1, users)
            if j != i:
                e = edge(uid(i), uid(j), friends=True)
                edges.setdefault(e["_id"], e)
    # Some candidates the target must never be offered: pending requests either way, blocks.
    for n, i in enumerate(rng.sample(range(friends + 1, users), 30)):
        ties: Document = (
            {"requested_by": uid(i) if n % 2 else target} if n < 20 else {"blocked_by": [target]}
        )
        e = edge(target, uid(i), **ties)
        edges[e["_id"]] = e
    return edges


async def seed(mongo: AsyncMongoClient[Document], users: int, edges: dict[str, Document]) -> float:
    started = time.perf_counter()
    db = mongo[DB]
    now = datetime.now(UTC)
    visibility = ["public"] * 8 + ["friends", "private"]
    people = [
        {
            "_id": uid(i),
            "email": f"{uid(i)}@bench.example",
            "display_name": f"Bench {i}",
            "time_zone": "UTC",
            "locale": "en",
            "created_at": now,
            "email_verified": True,
            "avatar_url": None,
            "level": 1,
            "roles": [],
            "deleted": False,
            "visibility": visibility[i % 10] if i else "public",
            "version": 1,
        }
        for i in range(users)
    ]
    docs = list(edges.values())
    for batch, collection in ((people, db["users"]), (docs, db["social_edges"])):
        for start in range(0, len(batch), 10_000):
            await collection.insert_many(batch[start : start + 10_000], ordered=False)
    return time.perf_counter() - started


def split(pairs: dict[str, str]) -> tuple[list[str], set[str]]:
    """The target's friends, and the others it has a pair with (requests, blocks)."""
    friends = [o for o, p in pairs.items() if json.loads(p)["friends"]]
    return friends, set(pairs) - set(friends)


async def raw_queries(redis: Redis, target: str) -> list[tuple[str, int]]:
    """The datastore queries of one suggestion request, sent raw (ranking included, as the
    service does; ``rank`` below times it alone)."""
    friends, excluded = split(await redis.hgetall(pairs_key(target)))
    async with redis.pipeline(transaction=False) as pipe:
        for f in friends:
            pipe.smembers(friends_key(f))
        theirs = await pipe.execute()
    ranked = rank_suggestions(
        target, friends, dict(zip(friends, theirs, strict=True)), excluded, limit=None
    )
    chosen: list[tuple[str, int]] = []
    for start in range(0, len(ranked), LIMIT):
        page = [u for u, _ in ranked[start : start + LIMIT]]
        hidden = await redis.hmget(VISIBILITY, page)
        chosen.extend(
            s for s, h in zip(ranked[start : start + LIMIT], hidden, strict=True) if h is None
        )
        if len(chosen) >= LIMIT:
            break
    return chosen[:LIMIT]


async def mongo_reference(db: Any, target: str) -> tuple[float, list[Document]]:
    """The read without the index: the target's pairs, then one aggregation."""
    started = time.perf_counter()
    mine = await db["social_edges"].find({"users": target}).to_list()
    friends = [next(u for u in d["users"] if u != target) for d in mine if d["friends"]]
    skip = [target, *(next(u for u in d["users"] if u != target) for d in mine)]
    pipeline = [
        {"$match": {"users": {"$in": friends}, "friends": True}},
        {"$unwind": "$users"},
        {"$match": {"users": {"$nin": skip}}},
        {"$group": {"_id": "$users", "mutual": {"$sum": 1}}},
        {"$sort": {"mutual": -1, "_id": 1}},
        {"$limit": LIMIT * 2},
    ]
    ranked = await (await db["social_edges"].aggregate(pipeline)).to_list()
    return time.perf_counter() - started, ranked


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--friends", type=int, default=1000)
    parser.add_argument("--partners", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--mongo-reference", action="store_true")
    args = parser.parse_args()
    target = uid(0)

    with Stack("social") as stack:
        mongo: AsyncMongoClient[Document] = AsyncMongoClient(stack.mongo.uri)
        redis = Redis(port=stack.redis.port, decode_responses=True)
        edges = graph(args.users, args.friends, args.partners)
        seed_s = await seed(mongo, args.users, edges)
        print(f"seeded {args.users:,} users and {len(edges):,} pairs in {seed_s:.1f}s", flush=True)

        service = stack.service("user-service", DB)
        token = stack.issuer.token(target, "users:read", lifetime=3600)
        headers = {"Authorization": f"Bearer {token}"}
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=900) as http:
            first = await http.get(service.url + PATH, headers=headers)
        build_s = time.perf_counter() - started
        if first.status_code != 200:
            raise SystemExit(
                f"{first.status_code} {first.text}\n{service.log_path.read_text()[-3000:]}"
            )
        via_service = [(s["user_id"], s["mutual"]) for s in first.json()["suggestions"]]
        print(f"first request (builds the Redis index from social_edges): {build_s:.1f}s")

        raw = await raw_queries(redis, target)
        if raw != via_service:
            raise SystemExit(f"raw and service disagree:\n{raw}\n{via_service}")
        friends, excluded = split(await redis.hgetall(pairs_key(target)))
        async with redis.pipeline(transaction=False) as pipe:
            for f in friends:
                pipe.smembers(friends_key(f))
            friends_of = dict(zip(friends, await pipe.execute(), strict=True))
        candidates = len({c for fs in friends_of.values() for c in fs})
        print(
            f"target: {len(friends):,} friends, {sum(len(f) for f in friends_of.values()):,} "
            f"friend edges among them, {candidates:,} distinct friends of friends; "
            f"top suggestion {raw[0][0]} with {raw[0][1]} mutual"
        )

        rows: list[tuple[str, dict[str, float]]] = []
        run_wrk(service.url + PATH, [token], "GET", PATH, None, 1, 2, "60s")  # warm-up
        for conns in (1, 4):
            rows.append(
                (
                    f"GET suggestions, {conns} conn (wrk)",
                    wrk_figures(
                        run_wrk(
                            service.url + PATH,
                            [token],
                            "GET",
                            PATH,
                            None,
                            conns,
                            args.seconds,
                            "60s",
                        )
                    ),
                )
            )
            rows.append(
                (
                    f"raw redis-py (same commands), {conns} conn",
                    loop_figures(
                        *await run_loop(lambda: raw_queries(redis, target), conns, args.seconds)
                    ),
                )
            )

        async def rank() -> None:
            rank_suggestions(target, friends, friends_of, excluded, limit=None)

        rows.append(("ranking alone, in process", loop_figures(*await run_loop(rank, 1, 3))))
        print_table(
            f"Suggestions (limit {LIMIT}) for a person with {len(friends):,} friends among "
            f"{args.users:,}, {args.seconds}s per row",
            rows,
        )

        if args.mongo_reference:
            seconds, ranked = await mongo_reference(mongo[DB], target)
            print(
                f"\nwithout the index (social_edges: the target's pairs + one aggregation), "
                f"once: {seconds:.1f}s; top {ranked[0]['_id']} with {ranked[0]['mutual']} mutual"
            )
        await redis.aclose()
        await mongo.close()


if __name__ == "__main__":
    asyncio.run(main())
