"""gamification-service as a real process (two uvicorn workers, trusting the real
user-service) and its maintenance commands
(``python -m gamification_service reconcile | rebuild-leaderboards``) as real processes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime

import httpx
import pytest
from redis import Redis

from deepiri_kit.events import new_event
from support.accounts import Accounts
from support.processes import ROOT, ServiceProcess, ServiceProcesses
from support.servers import OwnServers
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]


def command(service: ServiceProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """A maintenance command, run as a pod's operator would, with the service's environment."""
    return subprocess.run(
        [sys.executable, "-m", "gamification_service", *args],
        env=service.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_events_in_metrics_out_and_maintenance_commands(
    services: ServiceProcesses, accounts: Accounts, own_servers: OwnServers
) -> None:
    # A Redis of its own: the metrics count every event the process consumes, and the
    # session's streams hold other tests' events.
    gamification = services("gamification-service", workers=2, redis=own_servers.redis)
    bea = accounts.person("Bea")
    redis = Redis(port=own_servers.redis.port, decode_responses=True)
    for difficulty in ("hard", "medium", "easy"):
        event = new_event(
            "task.completed",
            source="task-service",
            user_id=bea.id,
            data={
                "task_id": f"t-{difficulty}",
                "kind": "todo",
                "difficulty": difficulty,
                "priority": "normal",
                "completed_at": datetime.now(UTC).isoformat(),
            },
        )
        redis.xadd("events.tasks", {"envelope": event.encode()})
    with gamification.client(bea.headers()) as client:
        wait_for(
            lambda: client.get("/api/gamification/wallet").json()["balances"]["xp"] >= 70,
            what="events consumed",
        )

        def counted() -> float | None:
            """the credits and a badge counted (a worker counts a credit after the wallet
            shows it, and awards badges after that)"""
            metrics = httpx.get(f"{gamification.url}/metrics").text
            credited = re.search(
                r'^deepiri_currency_credited_total\{currency="xp"\} (\S+)$', metrics, re.M
            )
            badge = re.search(
                r'^deepiri_badges_awarded_total\{rarity="common"\} [1-9]', metrics, re.M
            )
            xp = float(credited.group(1)) if credited else 0.0
            return xp if xp >= 70 and badge else None

        assert wait_for(counted) == 70.0

        reconcile = command(gamification, "reconcile", bea.id)
        assert reconcile.returncode == 0, reconcile.stderr
        [report] = [
            json.loads(line) for line in reconcile.stdout.splitlines() if line.startswith("{")
        ]
        assert report["balanced"] is True
        assert report["balances"]["xp"] == 70

        def cleared() -> bool:
            """the boards gone (deleted again should a late delivery have put bea back)"""
            for key in redis.scan_iter("lb:*"):
                redis.delete(key)
            return client.get("/api/gamification/leaderboards/xp").json()["entries"] == []

        wait_for(cleared)
        rebuilt = command(gamification, "rebuild-leaderboards")
        assert rebuilt.returncode == 0, rebuilt.stderr
        board = client.get("/api/gamification/leaderboards/xp").json()
        assert [(e["user_id"], e["value"]) for e in board["entries"]] == [(bea.id, 70.0)]
    redis.close()
