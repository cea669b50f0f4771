"""tools/bench/benchlib.py's wrk driver, against a real HTTP server on loopback: the headers
and bearer tokens it promises reach the server, and a run with refused requests measures
nothing (it ends the benchmark)."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from known_services import ROOT
from support.loopback import LoopbackServer

sys.path.insert(0, str(ROOT / "tools" / "bench"))
import benchlib

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is installed by make tools"),
]


class Recorder:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.server = LoopbackServer(self.respond)

    def respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        with self.lock:
            self.seen.append((request.command, dict(request.headers.items()), body))
        return self.status, "application/json", b"{}"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    own = Recorder()
    yield own
    own.server.close()


def test_fixed_headers_and_a_body_without_tokens(recorder: Recorder) -> None:
    form = "grant_type=client_credentials"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Bench": "yes"}
    result = benchlib.run_wrk(
        recorder.server.url, [], "POST", "/token", form, 1, 1, "5s", headers=headers
    )
    assert result["requests"] > 0
    figures = benchlib.wrk_figures(result)
    assert figures["req_s"] > 0
    assert figures["p99_ms"] >= figures["p50_ms"]
    method, seen, body = recorder.seen[0]
    assert (method, body) == ("POST", form.encode())
    assert seen["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen["X-Bench"] == "yes"
    assert "Authorization" not in seen


def test_a_random_bearer_token_per_request_and_json_by_default(recorder: Recorder) -> None:
    tokens = ["token-a", "token-b"]
    benchlib.run_wrk(recorder.server.url, tokens, "POST", "/tasks", '{"title": "x"}', 1, 1, "5s")
    assert {h["Content-Type"] for _, h, _ in recorder.seen} == {"application/json"}
    assert {h["Authorization"] for _, h, _ in recorder.seen} <= {f"Bearer {t}" for t in tokens}


def test_refused_requests_end_the_benchmark() -> None:
    refusing = Recorder(status=503)
    try:
        with pytest.raises(SystemExit, match="wrk saw errors"):
            benchlib.run_wrk(refusing.server.url, [], "GET", "/", None, 1, 1, "5s")
    finally:
        refusing.server.close()
