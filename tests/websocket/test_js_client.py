"""The official JavaScript client (socket.io-client from npm, run by Node.js) against
websocket-service as real processes: a task completed over HTTP on task-service reaches the
user's socket, held by another websocket-service process than the one that consumed the
event; bad tokens are refused with their reason; SIGTERM tells clients to reconnect and
drains."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator

import pytest

from support.processes import ServiceProcesses
from support.sockets import JsClient, js_installed
from support.tokens import TokenIssuer
from support.waiting import wait_for

pytestmark = pytest.mark.system


@pytest.fixture
def js_clients() -> Iterator[list[JsClient]]:
    if not js_installed():
        pytest.fail("socket.io-client is not installed: run make tools (npm ci)", pytrace=False)
    started: list[JsClient] = []
    yield started
    for client in started:
        client.close()


def metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_a_task_completed_over_http_reaches_the_js_client_through_another_process(
    service_process: ServiceProcesses, issuer: TokenIssuer, js_clients: list[JsClient]
) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    # The client's process only holds sockets; the other consumes the events and emits
    # through Redis.
    holder = service_process("websocket-service", CONSUME_EVENTS="false")
    emitter = service_process("websocket-service")
    task_service = service_process("task-service")

    client = JsClient(f"{holder.url}", {"token": issuer.token(user)})
    js_clients.append(client)
    client.next("connect")

    headers = issuer.headers(user, "tasks:read tasks:write")
    with task_service.client(headers) as tasks:
        created = tasks.post("/api/tasks", json={"title": "Ship the socket", "difficulty": "easy"})
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        done = tasks.post(f"/api/tasks/{task_id}/complete", json={"actual_minutes": 5})
        assert done.status_code == 200, done.text

    while True:
        message = client.next("event", timeout=60)
        if message["event"] == "task.completed":
            break
    payload = message["data"]
    assert set(payload) == {"type", "id", "occurred_at", "data", "traceparent"}
    assert payload["type"] == "task.completed"
    assert payload["data"]["task_id"] == task_id
    assert payload["traceparent"].startswith("00-")

    with holder.client() as h, emitter.client() as e:
        assert metric(h.get("/metrics").text, "deepiri_websocket_emits_total") == 0
        assert metric(e.get("/metrics").text, "deepiri_websocket_emits_total") >= 1
        assert metric(h.get("/metrics").text, "deepiri_websocket_sockets") == 1


def test_the_js_client_is_refused_with_a_bad_token_and_sees_why(
    service_process: ServiceProcesses, issuer: TokenIssuer, js_clients: list[JsClient]
) -> None:
    service = service_process("websocket-service")
    expired = JsClient(service.url, {"token": issuer.token("alice", lifetime=-120)})
    forged = JsClient(service.url, {"token": issuer.token("alice")[:-4] + "AAAA"})
    missing = JsClient(service.url, {})
    js_clients.extend([expired, forged, missing])
    for client, reason in [
        (expired, "token_expired"),
        (forged, "invalid_token"),
        (missing, "missing_token"),
    ]:
        refused = client.next("connect_error")
        assert refused["data"] == {"reason": reason}, refused
        assert refused["message"]
        assert refused["active"] is False  # a refusal is final: no reconnect loop
    with service.client() as http:
        text = http.get("/metrics").text
    assert 'deepiri_websocket_connects_total{outcome="token_expired"} 1.0' in text


def test_sigterm_tells_clients_to_reconnect_and_drains(
    service_process: ServiceProcesses, issuer: TokenIssuer, js_clients: list[JsClient]
) -> None:
    service = service_process("websocket-service", DRAIN_SECONDS="3")
    client = JsClient(service.url, {"token": issuer.token("alice")})
    js_clients.append(client)
    client.next("connect")
    # Right after the connection is acknowledged: the friends' presence (none here).
    snapshot = client.next("event")
    assert (snapshot["event"], snapshot["data"]) == ("presence:friends", {"friends": []})
    assert service.proc is not None
    service.proc.send_signal(signal.SIGTERM)
    notice = client.next("event")
    assert notice["event"] == "server:shutdown"
    assert notice["data"]["reconnect"] is True
    gone = client.next("disconnect")
    # A transport close, not a Socket.IO disconnect: the client reconnects by itself.
    assert gone["active"] is True, gone
    assert wait_for(lambda: service.proc.poll() is not None, what="exit")
    # uvicorn re-raises the signal once it has stopped gracefully.
    assert service.proc.returncode == -signal.SIGTERM
    logs = service.logs()
    assert "draining 1 socket(s)" in logs
    assert logs.index("draining 1 socket(s)") < logs.index("Application shutdown complete")
