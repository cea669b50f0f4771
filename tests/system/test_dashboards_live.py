"""The dashboards on live data: a real Prometheus server scrapes user-, task-, gamification-,
notification- and websocket-service running as processes while people use them for real —
sign-up and sign-in, tasks completed through the core loop (credit, badge, notification,
push to a registered phone at a protocol-faithful FCM fake, the Socket.IO event at a
connected client), a friendship, a friends' board rebuilt from user-service — and then EVERY
panel query of every dashboard the chart ships is evaluated through Prometheus' HTTP API,
with Grafana's variables substituted, and must return data (a number, not NaN). The HTTP
panels must show every service, and the dashboards' ``job`` variable must list them all.
tests/chart/test_observability.py checks the same queries offline (promtool)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.accounts import Accounts, Person
from support.charts import CHART
from support.processes import ServiceProcess, ServiceProcesses
from support.prometheus import (
    SCRAPE_SECONDS,
    PrometheusServer,
    finite,
    panel_queries,
    substitute,
)
from support.push import FcmFake
from support.sockets import connect
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]

DASHBOARDS = sorted((CHART / "files" / "grafana").glob("*.json"))
SERVICES = (
    "user-service",
    "task-service",
    "gamification-service",
    "notification-service",
    "websocket-service",
)
PHONE = "fcm-" + "x" * 40  # an FCM registration token's shape


async def complete_a_task_live(
    tasks: ServiceProcess, sockets: ServiceProcess, person: Person
) -> dict[str, Any]:
    """With the person's app open (a Socket.IO client on websocket-service), complete a task
    over HTTP; returns the notification the app receives, then closes the app."""
    app = await connect(sockets.url, auth={"token": person.token})
    try:
        async with httpx.AsyncClient(
            base_url=tasks.url, headers=person.headers(), timeout=30
        ) as api:
            body = {"title": "ship it", "difficulty": "hard", "tags": ["python"]}
            created = await api.post("/api/tasks", json=body)
            assert created.status_code == 201, created.text
            done = await api.post(f"/api/tasks/{created.json()['id']}/complete", json={})
            assert done.status_code == 200, done.text
        [first, *_] = await app.wait_for("notification.created")
        received: dict[str, Any] = first
        return received
    finally:
        await app.client.disconnect()


def use_everything(
    accounts: Accounts,
    processes: dict[str, ServiceProcess],
    fcm: FcmFake,
    ann: Person,
    friend: Person | None,
) -> None:
    """One round of real use of every service."""
    notes, game, sockets = (
        processes[s] for s in ("notification-service", "gamification-service", "websocket-service")
    )
    received = asyncio.run(complete_a_task_live(processes["task-service"], sockets, ann))
    assert received["type"] == "notification.created", received
    with notes.client(ann.headers()) as inbox:
        assert inbox.get("/api/notifications/inbox").status_code == 200
    with sockets.client(ann.headers()) as api:
        presence = api.get("/socket.io/presence", params={"user_id": ann.id})
        assert presence.status_code == 200, presence.text
    if friend is not None:
        for who, path in (
            (friend, f"/friends/requests/{ann.id}"),
            (ann, f"/friends/requests/{friend.id}/accept"),
        ):
            answer = httpx.post(f"{accounts.base}{path}", headers=who.headers(), timeout=30)
            assert answer.status_code == 200, answer.text
    admin = {"Authorization": f"Bearer {accounts.service_token()}"}
    with game.client(admin) as api:  # the friends' rebuild calls user-service (upstream)
        rebuilt = api.post("/api/gamification/admin/friends/rebuild", json={"user_ids": [ann.id]})
        assert rebuilt.status_code == 200, rebuilt.text
    with game.client(ann.headers()) as api:
        board = api.get("/api/gamification/leaderboards/xp/friends")
        assert board.status_code == 200, board.text
    # The first round's notifications reach the phone (later rewards may be folded into
    # the inbox's existing ones rather than pushed again).
    wait_for(lambda: fcm.sent, what="a push at the phone")


def test_every_dashboard_panel_shows_live_data(
    accounts: Accounts, services: ServiceProcesses, tmp_path: Path
) -> None:
    assert DASHBOARDS, "the chart ships no dashboard"
    channel = f"socketio-{uuid.uuid4().hex[:8]}"  # this test's Socket.IO manager channel
    fcm = FcmFake().start()
    key_file = tmp_path / "fcm.json"
    key_file.write_text(json.dumps(fcm.service_account()))
    processes = {
        "user-service": accounts.service,
        "task-service": services("task-service"),
        "gamification-service": services("gamification-service", **accounts.service_client()),
        "notification-service": services(
            "notification-service",
            SOCKET_CHANNEL=channel,
            FCM_PROJECT_ID=fcm.project_id,
            FCM_KEY_FILE=str(key_file),
            FCM_ENDPOINT=fcm.url,
        ),
        "websocket-service": services("websocket-service", SOCKET_CHANNEL=channel),
    }
    prometheus = PrometheusServer(
        tmp_path, {name: f"127.0.0.1:{p.port}" for name, p in processes.items()}
    )
    prometheus.start()
    try:
        prometheus.wait_until_up()
        ann = accounts.person("Ann")
        with processes["notification-service"].client(ann.headers()) as api:
            phone = {"provider": "fcm", "platform": "android", "token": PHONE, "app_version": "1"}
            assert api.post("/api/notifications/devices", json=phone).status_code == 201
        # Two rounds a few scrapes apart: counters and histograms first appear, then move.
        use_everything(accounts, processes, fcm, ann, None)
        time.sleep(5 * SCRAPE_SECONDS)
        use_everything(accounts, processes, fcm, ann, accounts.person("Bob"))

        def jobs() -> set[str]:
            found = prometheus.api("label/job/values", **{"match[]": "http_server_requests_total"})
            return set(found)

        def evaluate() -> tuple[list[str], list[str], int]:
            empty, partial, evaluated = [], [], 0
            window = prometheus.rate_interval()
            for dashboard in DASHBOARDS:
                for title, ref, expr in panel_queries(dashboard):
                    promql = substitute(expr, window)
                    series = finite(prometheus.query(promql))
                    evaluated += 1
                    if not series:
                        empty.append(f"{dashboard.name}: {title} [{ref}]: {promql}")
                    elif "http_server_" in expr and "by (job" in expr:
                        shown = {s["metric"].get("job") for s in series}
                        if missing := set(SERVICES) - shown:
                            partial.append(f"{title} [{ref}] lacks {sorted(missing)}")
            return empty, partial, evaluated

        # Prometheus has the second round once it has scraped it (a loaded machine scrapes
        # late): wait until every panel shows data, then say which do not if some never do.
        with contextlib.suppress(AssertionError):
            wait_for(lambda: set(SERVICES) <= jobs() and not any(evaluate()[:2]))
        assert set(SERVICES) <= jobs(), f"the job variable lacks {set(SERVICES) - jobs()}"
        empty, partial, evaluated = evaluate()
        assert not empty, "panels without data:\n" + "\n".join(empty)
        assert not partial, "HTTP panels missing services:\n" + "\n".join(partial)
        assert evaluated >= 30
    finally:
        prometheus.stop()
        fcm.stop()
