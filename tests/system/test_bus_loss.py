"""Issue 8.4: Redis dies (SIGKILL) mid-flow and comes back WITHOUT its data. Every completion
is still credited exactly once: gamification's consumer recreates its group, task-service's
bus guard replays from its journal what the lost Redis never delivered, and gamification's
idempotency absorbs whatever is replayed twice."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis as redis_sync

from support.accounts import Accounts
from support.processes import ServiceProcesses
from support.servers import OwnServers
from support.streams import decoded
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]

TASKS = 12
XP_PER_TASK = 10  # an easy, normal-priority todo without due date or estimate


def test_every_completion_is_credited_once_after_redis_lost_its_data(
    services: ServiceProcesses, own_servers: OwnServers, accounts: Accounts
) -> None:
    alice = accounts.person("Alice")
    own_redis = own_servers.redis  # killed and wiped, which nobody else should see
    task_service = services("task-service", redis=own_redis, BUS_GUARD_INTERVAL_SECONDS="0.5")
    # One process, so SIGSTOP pauses all of its consumers.
    gamification = services("gamification-service", redis=own_redis)
    assert gamification.proc is not None
    bus = redis_sync.Redis(host="127.0.0.1", port=own_redis.port, decode_responses=True)
    with (
        task_service.client(alice.headers()) as tasks,
        gamification.client(alice.headers()) as game,
    ):
        ids = []
        for i in range(TASKS):
            created = tasks.post("/api/tasks", json={"title": f"task {i}"})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

        def complete(task_ids: list[str]) -> None:
            for task_id in task_ids:
                done = tasks.post(f"/api/tasks/{task_id}/complete")
                assert done.status_code == 200, done.text

        def completions_published() -> int:
            return len(decoded(bus.xrange("events.tasks"), "task.completed"))

        def xp() -> int:
            return int(game.get("/api/gamification/wallet").json()["balances"].get("xp", 0))

        # 1. The loop works: four completions credited (and confirmed consumed).
        complete(ids[:4])
        wait_for(lambda: xp() == 4 * XP_PER_TASK, what="first credits")

        # 2. Four more are published while the consumer cannot take them (paused)...
        os.kill(gamification.proc.pid, signal.SIGSTOP)
        complete(ids[4:8])
        wait_for(lambda: completions_published() == 8, what="completions published")
        # 3. ...then Redis dies without a chance to save anything and comes back empty,
        # with two completions made while it is down and two after.
        own_redis.kill()
        own_redis.wipe()
        complete(ids[8:10])
        own_redis.start()
        os.kill(gamification.proc.pid, signal.SIGCONT)
        complete(ids[10:])

        expected = TASKS * XP_PER_TASK
        wait_for(lambda: xp() >= expected, what="every completion credited")

        def credits() -> list[dict[str, Any]]:
            page = game.get("/api/gamification/wallet/ledger", params={"limit": 100}).json()
            return [e for e in page["items"] if e["kind"] == "task"]

        # Let any further replay or redelivery arrive: nothing may be credited twice.
        time.sleep(3)
        assert xp() == expected
        entries = credits()
        assert sorted(e["ref"]["task_id"] for e in entries) == sorted(ids)
        assert all(e["amounts"]["xp"] == XP_PER_TASK for e in entries)
        # And the consumer reports itself ready again.
        health = httpx.get(f"{gamification.url}/health", timeout=5)
        assert health.status_code == 200, health.text
        assert "consumer:gamification-service" in health.json()["checks"]
    bus.close()


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    main: Callable[[list[str]], int],
    *args: str,
    stdin: str = "",
) -> tuple[int, str]:
    """A service's maintenance command, as ``python -m <service> …`` runs it (in-process, to
    spare the interpreter start)."""
    with monkeypatch.context() as patched:
        for name, value in env.items():
            patched.setenv(name, value)
        patched.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(list(args))
        return code, capsys.readouterr().out


def test_the_check_finds_uncredited_completions_and_a_replay_repairs_them(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    services: ServiceProcesses,
    own_servers: OwnServers,
    accounts: Accounts,
) -> None:
    """On demand, without the guard: the completions-vs-credits check names what a lost
    Redis dropped, ``replay`` brings it back, and the check then finds nothing missing."""
    from gamification_service.cli import main as gamification_cli
    from task_service.cli import main as task_cli

    own_redis = own_servers.redis  # killed and wiped, which nobody else should see
    # The guard stays out of this test.
    tasks = services("task-service", redis=own_redis, BUS_GUARD_INTERVAL_SECONDS="3600")

    def tasks_cmd(*args: str) -> tuple[int, str]:
        return run_cli(monkeypatch, capsys, tasks.env, task_cli, *args)

    since = datetime.now(UTC).isoformat()
    bob = accounts.person("Bob")
    with tasks.client(bob.headers()) as client:
        ids = [client.post("/api/tasks", json={"title": f"t{i}"}).json()["id"] for i in range(3)]
        for task_id in ids:  # published while nobody consumes...
            assert client.post(f"/api/tasks/{task_id}/complete").status_code == 200
    own_redis.kill()  # ...and lost
    own_redis.wipe()
    own_redis.start()
    gamification = services("gamification-service", redis=own_redis)

    def game_cmd(*args: str, stdin: str) -> tuple[int, str]:
        return run_cli(monkeypatch, capsys, gamification.env, gamification_cli, *args, stdin=stdin)

    code, out = tasks_cmd("completions", "--since", since)
    assert code == 0, out
    completions = out
    assert len(completions.splitlines()) == 3
    code, out = game_cmd("check-credits", stdin=completions)
    assert code == 1
    assert json.loads(out.splitlines()[-1]) == {"completions": 3, "credited": 0, "missing": 3}

    code, out = tasks_cmd("replay", "--since", since)
    assert code == 0, out
    assert json.loads(out) == {"replayed": 6}  # three task.created, three task.completed
    with gamification.client(bob.headers()) as game:
        wait_for(
            lambda: (
                game.get("/api/gamification/wallet").json()["balances"].get("xp") == 3 * XP_PER_TASK
            ),
            what="replayed completions credited",
        )
    code, out = game_cmd("check-credits", stdin=completions)
    assert code == 0, out
    assert json.loads(out) == {"completions": 3, "credited": 3, "missing": 0}
