"""One user action is one trace, from the HTTP request to the user's open app: a person signed
in at the real user-service completes a task over task-service's HTTP API with a
``traceparent``; gamification-service credits it, notification-service stores the
notification and emits it to the user's room, websocket-service delivers it and the events
themselves to the official JavaScript client — and every service's spans arrive at the local
OTLP receiver in the trace the request started. Several completions at once (two
gamification workers, as a pod runs) each keep their own trace."""

from __future__ import annotations

import json
import secrets
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from support.accounts import Accounts, Person
from support.otlp import OTLPReceiver, ReceivedSpan
from support.processes import ServiceProcess, ServiceProcesses
from support.sockets import JsClient, js_installed
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP span kinds
CREDITED = "gamification.currency_credited"


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    otlp = OTLPReceiver()
    yield otlp
    otlp.close()


def post(url: str, person: Person, body: dict[str, Any], traceparent: str | None = None) -> Any:
    """urllib, not httpx: a test process that configured tracing instruments httpx, which
    would replace our traceparent with its own."""
    headers = {**person.headers(), "content-type": "application/json"}
    if traceparent:
        headers["traceparent"] = traceparent
    request = urllib.request.Request(  # noqa: S310 - loopback
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return json.loads(response.read())


def complete(tasks: ServiceProcess, person: Person, title: str) -> tuple[str, str]:
    """Create a task, then complete it in a trace of its own: (task id, trace id)."""
    task = post(f"{tasks.url}/api/tasks", person, {"title": title, "difficulty": "easy"})
    trace_id = secrets.token_hex(16)
    post(
        f"{tasks.url}/api/tasks/{task['id']}/complete",
        person,
        {},
        f"00-{trace_id}-{secrets.token_hex(8)}-01",
    )
    return task["id"], trace_id


def trace_of(payload: dict[str, Any]) -> str:
    return str(payload["traceparent"]).split("-")[1]


def about(task_id: str) -> Any:
    """Matches a payload about ``task_id`` (a credit's ``ref``, a notification's ``data.ref``)."""

    def match(payload: dict[str, Any]) -> bool:
        data = payload["data"]
        ref = data.get("ref") or (data.get("data") or {}).get("ref") or {}
        return bool(data.get("task_id") == task_id or ref.get("task_id") == task_id)

    return match


def event(client: JsClient, name: str, match: Any, timeout: float = 90) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((p for p in client.received(name) if match(p)), None)

    return wait_for(found, timeout=timeout, what=f"{name} at the JS client")


def names(spans: list[ReceivedSpan], service: str) -> set[tuple[str, int]]:
    return {(s.name, s.kind) for s in spans if s.service == service}


def test_a_completion_is_one_trace_from_the_request_to_the_js_client(
    services: ServiceProcesses, accounts: Accounts, receiver: OTLPReceiver
) -> None:
    if not js_installed():
        pytest.fail("socket.io-client is not installed: run make tools (npm ci)", pytrace=False)
    channel = f"socketio-{uuid.uuid4().hex[:8]}"
    exporting = receiver.env()
    tasks = services("task-service", **exporting)
    services("gamification-service", workers=2, **exporting)
    services("notification-service", SOCKET_CHANNEL=channel, **exporting)
    sockets = services("websocket-service", SOCKET_CHANNEL=channel, **exporting)
    person = accounts.person("Tracy")
    client = JsClient(sockets.url, {"token": person.token})
    try:
        client.next("connect")
        task_id, trace_id = complete(tasks, person, "Write the report")

        done = event(client, "task.completed", about(task_id))
        assert trace_of(done) == trace_id
        credit = event(client, CREDITED, about(task_id))
        assert trace_of(credit) == trace_id
        # The notification notification-service emitted, delivered by websocket-service.
        note = event(client, "notification.created", about(task_id))
        assert note["data"]["event_type"] == CREDITED
        assert trace_of(note) == trace_id

        expected = {
            "task-service": {("events.tasks publish", PRODUCER)},
            "gamification-service": {
                ("events.tasks process", CONSUMER),
                ("gamification credit", 1),
                ("events.gamification publish", PRODUCER),
            },
            "notification-service": {("events.gamification process", CONSUMER)},
            "websocket-service": {
                ("events.tasks process", CONSUMER),
                ("socket.io emit task.completed", PRODUCER),
                ("socket.io deliver task.completed", CONSUMER),
                ("events.gamification process", CONSUMER),
                (f"socket.io emit {CREDITED}", PRODUCER),
                (f"socket.io deliver {CREDITED}", CONSUMER),
                ("socket.io deliver notification.created", CONSUMER),
            },
        }

        def roots(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
            ids = {s.span_id for s in spans}
            return [s for s in spans if s.parent_span_id not in ids]

        def whole() -> list[ReceivedSpan] | None:
            """The trace once every expected span is in and every span's parent too: a
            process exports a span when it ends, so a consumer's children (its MongoDB and
            Redis commands) may arrive a batch before the consumer span itself."""
            spans = receiver.trace(trace_id)
            have = all(want <= names(spans, service) for service, want in expected.items())
            return spans if have and len(roots(spans)) == 1 else None

        try:
            spans = wait_for(whole, what=f"every service's spans in trace {trace_id}")
        except AssertionError:
            # Say which spans' parents never arrived (a trace started or lost elsewhere).
            spans = receiver.trace(trace_id)
            raise AssertionError(
                f"trace {trace_id}: roots {[(r.service, r.name) for r in roots(spans)]}, "
                f"have {sorted({(s.service, s.name) for s in spans})}"
            ) from None
        # Nothing of the action started a trace of its own: each span's parent is in it, and
        # the one root is the request to task-service.
        [request] = roots(spans)
        assert (request.service, request.kind) == ("task-service", SERVER)
        assert request.name.endswith("/complete")
        # notification-service stored the notification and emitted it (the Socket.IO
        # manager's PUBLISH) inside the trace.
        stored = names(spans, "notification-service")
        assert any(name.endswith(".insert") for name, _ in stored), stored
        assert ("PUBLISH", 3) in stored, stored  # CLIENT
    finally:
        client.close()

    # Under load: completions at once, each credited (by either gamification worker, one of
    # which may apply another's ledger entry) in its own trace.
    client = JsClient(sockets.url, {"token": person.token})
    try:
        client.next("connect")
        with ThreadPoolExecutor(6) as pool:
            made = list(pool.map(lambda n: complete(tasks, person, f"chore {n}"), range(6)))
        for task, trace in made:
            assert trace_of(event(client, CREDITED, about(task))) == trace, task
    finally:
        client.close()
