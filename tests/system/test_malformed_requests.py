"""Requests the HTTP parser itself refuses (they never reach the app) are answered with a
problem document too, by the server process a pod runs."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator

import pytest

from support.processes import ServiceProcess, ServiceProcesses
from support.servers import OwnServers
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.system]

MALFORMED = {
    "space in a header name": b"GET /livez HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
    "control character in a header name": b"GET /livez HTTP/1.1\r\nHost: x\r\nX\x01: y\r\n\r\n",
    "NUL in a header value": b"GET /livez HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "header without a colon": b"GET /livez HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
    "invalid Content-Length": b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "two Content-Lengths": (
        b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    ),
    "broken chunk size": (
        b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    ),
    "broken request line": b"GET /livez HTTP/9.Z\r\nHost: x\r\n\r\n",
}


def exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def task_service(
    tmp_path_factory: pytest.TempPathFactory, session_servers: OwnServers, issuer: TokenIssuer
) -> Iterator[ServiceProcess]:
    """One task-service process (two workers, as a pod runs it) for every case: the parser
    refuses each request before the app sees it, so one case leaves nothing for the next —
    and each case checks that the process is still up after its request."""
    processes = ServiceProcesses(
        tmp_path_factory.mktemp("malformed"),
        session_servers,
        issuer,
        f"malformed_{uuid.uuid4().hex[:12]}",
    )
    yield processes("task-service", workers=2)
    processes.stop_all()


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_unparseable_requests_get_a_problem_document(
    task_service: ServiceProcess, raw: bytes
) -> None:
    head, _, body = exchange(task_service.port, raw).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 400 Bad Request", head
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 400
    assert problem["type"] == "https://deepiri.dev/problems/bad-request"
    assert task_service.proc is not None
    assert task_service.proc.poll() is None, task_service.logs()[-3000:]
    with task_service.client() as client:
        assert client.get("/livez").status_code == 200
