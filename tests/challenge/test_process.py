"""challenge-service as a real process, started as its image starts it: ready, and serving its API."""

from __future__ import annotations

import httpx
import pytest

from support.processes import ServiceProcesses
from support.tokens import TokenIssuer

pytestmark = pytest.mark.system


def test_the_service_runs_as_a_process(
    service_process: ServiceProcesses, issuer: TokenIssuer
) -> None:
    service = service_process("challenge-service", workers=2)
    assert httpx.get(f"{service.url}/health", timeout=10).status_code == 200
    headers = issuer.headers("alice", "challenge:read")
    listed = httpx.get(f"{service.url}/api/challenges/items", headers=headers, timeout=10)
    assert listed.status_code == 200, listed.text
    assert listed.json() == []
