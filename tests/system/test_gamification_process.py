"""gamification-service as a real process (two uvicorn workers) and its maintenance commands
(``python -m gamification_service reconcile | rebuild-leaderboards``) as real processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from redis import Redis

from deepiri_kit.events import new_event
from infra import FerretDBServer, RedisServer, free_port
from support.processes import ROOT, ServiceProcess, harness_env
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.system, pytest.mark.slow]


@pytest.fixture
def env(
    redis_server: RedisServer, mongo_server: FerretDBServer, issuer: TokenIssuer, db_name: str
) -> dict[str, str]:
    return {
        **harness_env(redis_server, mongo_server, issuer, db_name),
        "CONSUMER_BLOCK_MS": "100",
    }


@pytest.fixture
def gamification(tmp_path: Path, env: dict[str, str]) -> Iterator[ServiceProcess]:
    service = ServiceProcess(
        "gamification-service", free_port(), {**env, "WEB_CONCURRENCY": "2"}, tmp_path
    )
    service.start()
    yield service
    service.stop()


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gamification_service", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_events_in_metrics_out_and_maintenance_commands(
    gamification: ServiceProcess,
    env: dict[str, str],
    issuer: TokenIssuer,
    redis_server: RedisServer,
) -> None:
    redis = Redis(port=redis_server.port, decode_responses=True)
    for difficulty in ("hard", "medium", "easy"):
        event = new_event(
            "task.completed",
            source="task-service",
            user_id="bea",
            data={
                "task_id": f"t-{difficulty}",
                "kind": "todo",
                "difficulty": difficulty,
                "priority": "normal",
                "completed_at": datetime.now(UTC).isoformat(),
            },
        )
        redis.xadd("events.tasks", {"envelope": event.encode()})
    headers = issuer.headers("bea", "gamification:read")
    with httpx.Client(base_url=gamification.url, headers=headers, timeout=10) as client:
        deadline = time.monotonic() + 20
        while client.get("/api/gamification/wallet").json()["balances"]["xp"] < 70:
            assert time.monotonic() < deadline, "events not consumed"
            time.sleep(0.1)
        metrics = httpx.get(f"{gamification.url}/metrics").text
        credited = re.search(
            r'^deepiri_currency_credited_total\{currency="xp"\} (\S+)$', metrics, re.M
        )
        assert credited is not None
        assert float(credited.group(1)) == 70.0
        assert re.search(r'^deepiri_badges_awarded_total\{rarity="common"\} [1-9]', metrics, re.M)

        reconcile = command(env, "reconcile", "bea")
        assert reconcile.returncode == 0, reconcile.stderr
        [report] = [
            json.loads(line) for line in reconcile.stdout.splitlines() if line.startswith("{")
        ]
        assert report["balanced"] is True
        assert report["balances"]["xp"] == 70

        for key in redis.scan_iter("lb:*"):
            redis.delete(key)
        assert client.get("/api/gamification/leaderboards/xp").json()["entries"] == []
        rebuilt = command(env, "rebuild-leaderboards")
        assert rebuilt.returncode == 0, rebuilt.stderr
        board = client.get("/api/gamification/leaderboards/xp").json()
        assert [(e["user_id"], e["value"]) for e in board["entries"]] == [("bea", 70.0)]
    redis.close()
