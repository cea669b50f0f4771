"""What a client does, through the Ingress only: a person signed in with user-service creates
and completes a task, then sees the credit in the wallet and on the leaderboard
(task-service → Redis Streams → gamification-service, every part a pod)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from e2e.helpers import Release, eventually

pytestmark = [pytest.mark.e2e]


def test_unauthenticated_calls_get_a_problem_document_through_the_ingress(release: Release) -> None:
    with httpx.Client(base_url=release.ingress, timeout=10) as client:
        r = client.get("/api/tasks")
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert client.get("/api/nowhere").status_code == 404


def test_completing_a_task_credits_the_wallet_and_the_leaderboard(release: Release) -> None:
    person = release.person("flow")
    due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with httpx.Client(base_url=release.ingress, headers=person.headers, timeout=15) as api:
        assert api.get("/api/gamification/wallet").json()["balances"]["xp"] == 0
        created = api.post(
            "/api/tasks",
            json={
                "title": "ship the cluster",
                "difficulty": "hard",
                "priority": "high",
                "due_at": due,
                "estimated_minutes": 60,
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        done = api.post(f"/api/tasks/{task_id}/complete", json={"actual_minutes": 60})
        assert done.status_code == 200, done.text
        assert api.get(f"/api/tasks/{task_id}").json()["status"] == "completed"

        # hard 40 x high 1.2 x on time 1.2 x effort(60 min) 1.25 x estimate 1.1 = 79 XP
        def paid() -> dict[str, Any] | None:
            wallet = api.get("/api/gamification/wallet").json()
            return wallet if wallet["balances"]["xp"] > 0 else None

        wallet = eventually(paid, timeout=60, what="the wallet credit")
        assert wallet["balances"]["xp"] == 79
        ledger = api.get("/api/gamification/wallet/ledger", params={"currency": "xp"}).json()
        assert [e["amounts"]["xp"] for e in ledger["items"]] == [79]

        def ranked() -> dict[str, Any] | None:
            me = api.get("/api/gamification/leaderboards/xp/me").json()
            return me if me.get("me") else None

        me = eventually(ranked, timeout=60, what="the leaderboard entry")
        assert me["me"]["value"] == 79
        board = api.get("/api/gamification/leaderboards/xp", params={"period": "week"}).json()
        assert {"user_id": person.subject, "value": 79} in [
            {"user_id": e["user_id"], "value": e["value"]} for e in board["entries"]
        ]
