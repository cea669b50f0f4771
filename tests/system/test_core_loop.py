"""The core loop over the real bus, every service a real process: a person signed in at the
real user-service completes tasks through task-service's HTTP API; gamification-service
consumes ``task.completed`` from Redis and the person sees wallet, level, badges and
leaderboard change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.accounts import Accounts
from support.processes import ServiceProcesses
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]


def test_completing_tasks_pays_levels_up_awards_badges_and_ranks(
    services: ServiceProcesses, accounts: Accounts
) -> None:
    task_service = services("task-service")
    gamification = services("gamification-service", workers=2)
    alice = accounts.person("Alice")
    due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with (
        task_service.client(alice.headers()) as tasks,
        gamification.client(alice.headers()) as game,
    ):
        assert game.get("/api/gamification/wallet").json()["balances"]["xp"] == 0
        ids = []
        for i in range(2):
            created = tasks.post(
                "/api/tasks",
                json={
                    "title": f"ship feature {i}",
                    "difficulty": "hard",
                    "priority": "high",
                    "due_at": due,
                    "estimated_minutes": 60,
                },
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        for task_id in ids:
            done = tasks.post(f"/api/tasks/{task_id}/complete", json={"actual_minutes": 60})
            assert done.status_code == 200, done.text
        # Completing again is a no-op in task-service and announces nothing.
        assert (
            tasks.post(f"/api/tasks/{ids[0]}/complete", json={"actual_minutes": 60}).status_code
            == 200
        )

        # hard 40 x high 1.2 x on time 1.2 x effort(60 min) 1.25 x estimate 1.1 = 79 XP each
        def paid() -> dict[str, Any] | None:
            wallet = game.get("/api/gamification/wallet").json()
            return wallet if wallet["balances"]["xp"] >= 158 else None

        wallet = wait_for(paid)
        assert wallet["balances"]["xp"] == 158
        assert wallet["balances"]["stars"] == 2
        assert wallet["balances"]["coins"] >= 80  # 40 per task, plus badge rewards
        assert wallet["level"]["level"] == 2

        def badges() -> set[str]:
            mine = game.get("/api/gamification/badges/me").json()
            return {e["badge"]["id"] for e in mine["earned"]}

        assert wait_for(lambda: {"tasks-1", "hard-1"} <= badges())

        # The board takes a wallet's state when its events go out, after the wallet shows
        # it: wait for Alice's whole XP there. All-time: a run across Sunday midnight splits
        # the week, and other tests of this worker may have ranked people on any board.
        def ranked() -> dict[str, Any] | None:
            me: dict[str, Any] | None = game.get("/api/gamification/leaderboards/xp/me").json()[
                "me"
            ]
            return me if me is not None and me["value"] == 158 else None

        me = wait_for(ranked, what="Alice's XP on the board")
        board = game.get("/api/gamification/leaderboards/xp", params={"limit": 100}).json()
        # Alice is placed by her XP among whoever else is there, and her own rank says the same.
        entries = board["entries"]
        assert [e["value"] for e in entries] == sorted((e["value"] for e in entries), reverse=True)
        [place] = [i for i, e in enumerate(entries, 1) if e["user_id"] == alice.id]
        assert entries[place - 1]["value"] == 158
        assert me["rank"] == place
        ledger = game.get("/api/gamification/wallet/ledger", params={"currency": "xp"}).json()
        assert [e["amounts"]["xp"] for e in ledger["items"]] == [79, 79]
