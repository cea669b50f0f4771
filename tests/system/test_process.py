"""A service as a real process: several uvicorn workers, one consistent /metrics, JSON logs."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from support.accounts import Accounts
from support.processes import ServiceProcesses

pytestmark = [pytest.mark.system, pytest.mark.slow]


def counter(text: str, labels: str) -> float:
    match = re.search(
        r"^http_server_requests_total\{" + re.escape(labels) + r"\} (\S+)$", text, re.M
    )
    return float(match.group(1)) if match else 0.0


def test_metrics_add_up_across_workers(services: ServiceProcesses, accounts: Accounts) -> None:
    task_service = services("task-service", workers=2)
    headers = accounts.person("Alice").headers()
    with task_service.client() as client:
        for i in range(20):
            assert (
                client.post("/api/tasks", json={"title": f"t{i}"}, headers=headers).status_code
                == 201
            )
        # Whichever worker answers the scrape, it reports the whole pod.
        labels = 'method="POST",route="/api/tasks",status="201"'
        seen = {counter(httpx.get(f"{task_service.url}/metrics").text, labels) for _ in range(8)}
    assert seen == {20.0}


def test_logs_are_json_with_request_and_trace_ids(
    services: ServiceProcesses, accounts: Accounts
) -> None:
    task_service = services("task-service", workers=2)
    alice = accounts.person("Alice")
    response = httpx.post(
        f"{task_service.url}/api/tasks",
        json={"title": "logged"},
        headers={**alice.headers(), "x-request-id": "req-abc-1"},
    )
    assert response.status_code == 201
    task_service.stop()  # flush
    lines = [json.loads(line) for line in task_service.logs().splitlines() if line.startswith("{")]
    access: list[dict[str, Any]] = [e for e in lines if e.get("logger") == "deepiri.access"]
    [entry] = [e for e in access if e.get("request_id") == "req-abc-1"]
    assert entry["route"] == "/api/tasks"
    assert entry["status"] == 201
    assert re.fullmatch(r"[0-9a-f]{32}", entry["trace_id"])
    assert entry["service"] == "task-service"
    # No bodies, tokens or titles in logs.
    text = task_service.logs()
    assert "logged" not in text
    assert "Bearer" not in text
    assert alice.token not in text
