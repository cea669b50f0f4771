"""A service's spans leave over OTLP and join the trace of the caller that caused them."""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator

import httpx
import pytest

from support.accounts import Accounts
from support.otlp import OTLPReceiver
from support.processes import ServiceProcesses

pytestmark = [pytest.mark.system]


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    otlp = OTLPReceiver()
    yield otlp
    otlp.close()


def test_request_spans_join_the_callers_trace(
    services: ServiceProcesses, accounts: Accounts, receiver: OTLPReceiver
) -> None:
    alice = accounts.person("Alice")
    service = services(
        "task-service",
        **receiver.env(),
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test",
    )
    try:
        trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
        # urllib, not httpx: once this test process has instrumented httpx (other tests
        # configure tracing in-process), httpx would replace our traceparent with its own.
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{service.url}/api/tasks",
            data=json.dumps({"title": "traced"}).encode(),
            headers={
                **alice.headers(),
                "content-type": "application/json",
                "traceparent": f"00-{trace_id}-{parent_id}-01",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 201
        [server_span] = receiver.wait_for(
            lambda s: s.trace_id == trace_id and s.kind == 2
        )  # SERVER
        assert server_span.service == "task-service"
        assert server_span.parent_span_id == parent_id
        children = receiver.wait_for(
            lambda s: s.trace_id == trace_id and s.name.endswith(".insert")
        )
        assert children, "the MongoDB write is a span in the same trace"
        receiver.wait_for(lambda s: s.trace_id == trace_id and s.name.upper().startswith("XADD"))
        # Probes are not traced.
        httpx.get(f"{service.url}/health")
        httpx.get(f"{service.url}/metrics")
    finally:
        service.stop()
    assert not [s for s in receiver.spans if "/health" in s.name or "/metrics" in s.name]
    # Background polling (readiness pings, stream reads, outbox sweeps) makes no root spans.
    noise = {"PING", "XREADGROUP", "XPENDING", "admin.ping"}
    assert not [
        s
        for s in receiver.spans
        if s.name in noise or (s.name.endswith(".find") and not s.parent_span_id)
    ]
