"""challenge-service as a real process, started as its image starts it: ready, serving its
API to a player's token, refusing a token without its scopes."""

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
    headers = issuer.headers("alice", "challenges:read")
    for status in ("available", "active", "finished"):
        listed = httpx.get(
            f"{service.url}/api/challenges", params={"status": status}, headers=headers, timeout=10
        )
        assert listed.status_code == 200, listed.text
        assert listed.json() == []
    unscoped = issuer.headers("alice", "tasks:read")
    refused = httpx.get(f"{service.url}/api/challenges", headers=unscoped, timeout=10)
    assert refused.status_code == 403, refused.text
    schema = httpx.get(f"{service.url}/api/challenges/schema/openapi.json", timeout=10).json()
    assert "/api/challenges/generate" in schema["paths"]
