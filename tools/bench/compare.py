#!/usr/bin/env python3
"""Before/after: the same requests to a service built from two checkouts, interleaved.

    .venv/bin/python tools/bench/compare.py /path/to/other/checkout [--pairs 2000]

A benchmark run on this shared 2-core machine swings with whatever else runs, so two runs of
``make bench`` minutes apart compare badly. Here both versions run at once on the same
Redis and FerretDB, each request is sent to both in a random order, and the figures are the
paired differences: whatever the machine does, it does to both sides of a pair. The other
checkout runs from its own ``.venv`` (``bash tools/bootstrap.sh`` there first).

Requests (one connection per side, keep-alive, real RS256 tokens from the local issuer):

* task-service: ``GET /api/tasks?limit=20`` over a user's 100 tasks, ``GET /api/tasks/{id}``,
  ``POST /api/tasks`` (each side has its own database with the same seeded tasks);
* gamification-service: the top 100 and around-me on a 100,000-member board (the two share
  the board: it is read-only here).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

from infra import FerretDBServer, RedisServer, free_port  # noqa: E402
from support.processes import ServiceProcess, harness_env, start_command  # noqa: E402
from support.tokens import TokenIssuer  # noqa: E402

TASKS_PER_USER = 100
BOARD_MEMBERS = 100_000


class CheckoutService(ServiceProcess):
    """A service started from ``checkout`` with that checkout's own interpreter."""

    def __init__(self, checkout: Path, *args: Any) -> None:
        super().__init__(*args)
        self.checkout = checkout

    def start(self, timeout: float = 120.0) -> CheckoutService:
        python = self.checkout / ".venv" / "bin" / "python"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(python), *start_command(self.service)[1:]],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.checkout,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.service} exited:\n{self.logs()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.service} from {self.checkout} not ready")


def commit_of(checkout: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()[:72]


Request = Callable[[httpx.Client], httpx.Response]


def paired(
    clients: tuple[httpx.Client, httpx.Client], request: Request, pairs: int
) -> dict[str, Any]:
    """``request`` on both sides ``pairs`` times, in a random order within each pair."""
    rng = random.Random(11)  # noqa: S311 - order only
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(pairs):
        order = (0, 1) if rng.random() < 0.5 else (1, 0)
        for side in order:
            started = time.perf_counter()
            response = request(clients[side])
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code >= 400:
                raise RuntimeError(f"side {side}: {response.status_code} {response.text[:300]}")
            times[side].append(elapsed)
    before, after = times
    differences = [b - a for a, b in zip(before, after, strict=True)]
    return {
        "before": before,
        "after": after,
        "median_difference": statistics.median(differences),
        "after_faster": sum(d < 0 for d in differences) / pairs,
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, figures: dict[str, Any]) -> None:
    before, after = figures["before"], figures["after"]
    print(
        f"{name:<34} {pct(before, 0.5):8.2f} {pct(before, 0.99):8.2f}"
        f" {pct(after, 0.5):8.2f} {pct(after, 0.99):8.2f}"
        f" {figures['median_difference']:+9.2f} {figures['after_faster']:8.0%}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", type=Path, help="the other checkout (the baseline)")
    parser.add_argument("--pairs", type=int, default=2000)
    args = parser.parse_args()
    before_tree, after_tree = args.before.resolve(), ROOT
    if not (before_tree / ".venv" / "bin" / "python").exists():
        print(f"{before_tree} has no .venv: run tools/bootstrap.sh there", file=sys.stderr)
        return 1

    root = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    redis_server, mongo_server = RedisServer(root), FerretDBServer(root)
    issuer = TokenIssuer()
    started: list[ServiceProcess] = []
    load_before = os.getloadavg()[0]

    def start(tree: Path, service: str, db: str) -> ServiceProcess:
        env = {
            **harness_env(redis_server, mongo_server, issuer, db),
            "WEB_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_MINUTE": "100000000",
            "RATE_LIMIT_BURST": "1000000",
        }
        log_dir = root / f"{db}-{service}"
        log_dir.mkdir()
        process = CheckoutService(tree, service, free_port(), env, log_dir).start()
        started.append(process)
        return process

    try:
        redis_server.start()
        mongo_server.start()
        print(f"before: {commit_of(before_tree)}\nafter:  {commit_of(after_tree)}")
        print(f"{args.pairs} interleaved pairs per row, one connection per side; ms")
        print(
            f"{'request':<34} {'b p50':>8} {'b p99':>8} {'a p50':>8} {'a p99':>8}"
            f" {'a-b p50':>9} {'a faster':>8}"
        )
        token = issuer.token("bench-user", "tasks:read tasks:write", lifetime=3600)
        headers = {"Authorization": f"Bearer {token}"}

        tasks = [
            start(before_tree, "task-service", "cmp_before"),
            start(after_tree, "task-service", "cmp_after"),
        ]
        clients = tuple(httpx.Client(base_url=s.url, headers=headers, timeout=30) for s in tasks)
        body = {"title": "Benchmark task", "priority": "high", "tags": ["bench"]}
        ids = [
            [c.post("/api/tasks", json=body).json()["id"] for _ in range(TASKS_PER_USER)]
            for c in clients
        ]
        pick = random.Random(3).choice  # noqa: S311 - which task to read
        by_client = {id(c): i for c, i in zip(clients, ids, strict=True)}
        pair = (clients[0], clients[1])
        for c in clients:  # warm-up: JWKS, pools, caches
            for _ in range(50):
                c.get("/api/tasks?limit=20")
        report(
            "GET /api/tasks?limit=20",
            paired(pair, lambda c: c.get("/api/tasks?limit=20"), args.pairs),
        )
        report(
            "GET /api/tasks/{id}",
            paired(pair, lambda c: c.get(f"/api/tasks/{pick(by_client[id(c)])}"), args.pairs),
        )
        report(
            "POST /api/tasks",
            paired(pair, lambda c: c.post("/api/tasks", json=body), args.pairs // 4),
        )
        for c in clients:
            c.close()

        import redis as redis_sync

        board = redis_sync.Redis(port=redis_server.port)
        rng = random.Random(7)  # noqa: S311 - reproducible data
        for start_at in range(0, BOARD_MEMBERS, 20_000):
            board.zadd(
                "lb:xp:all",
                {
                    f"user-{i:07d}": -float(rng.randint(0, 500_000))
                    for i in range(start_at, start_at + 20_000)
                },
            )
        me = "user-0050000"
        me_headers = {
            "Authorization": f"Bearer {issuer.token(me, 'gamification:read', lifetime=3600)}"
        }
        games = [
            start(before_tree, "gamification-service", "cmp_games_before"),
            start(after_tree, "gamification-service", "cmp_games_after"),
        ]
        clients = tuple(httpx.Client(base_url=s.url, headers=me_headers, timeout=30) for s in games)
        top, around = (
            "/api/gamification/leaderboards/xp?limit=100",
            "/api/gamification/leaderboards/xp/me?window=5",
        )
        for c in clients:
            for _ in range(50):
                c.get(top)
        pair = (clients[0], clients[1])
        report("GET leaderboards/xp?limit=100", paired(pair, lambda c: c.get(top), args.pairs))
        report("GET leaderboards/xp/me?window=5", paired(pair, lambda c: c.get(around), args.pairs))
        for c in clients:
            c.close()
        print(
            "a-b p50: median over pairs of (after - before); a faster: share of pairs where"
            " after answered first"
        )
        print(f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    finally:
        for process in started:
            process.stop()
        mongo_server.stop()
        redis_server.stop()
    print(json.dumps({"log_dir": str(root)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
