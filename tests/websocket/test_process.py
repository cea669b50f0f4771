"""websocket-service as a real process, started as its image starts it: ready, serving its
HTTP API, and refusing long-polling."""

from __future__ import annotations

import secrets

import httpx
import pytest

from support.processes import ServiceProcesses
from support.tokens import TokenIssuer

pytestmark = pytest.mark.system


def test_the_service_runs_as_a_process(
    service_process: ServiceProcesses, issuer: TokenIssuer
) -> None:
    service = service_process("websocket-service", workers=2)
    assert httpx.get(f"{service.url}/health", timeout=10).status_code == 200
    # A person no other test of this worker has connected as: never seen.
    someone = f"alice-{secrets.token_hex(4)}"
    headers = issuer.headers(someone, "users:read")
    listed = httpx.get(
        f"{service.url}/socket.io/presence",
        params={"user_id": someone},
        headers=headers,
        timeout=10,
    )
    assert listed.status_code == 200, listed.text
    assert listed.json() == [{"user_id": someone, "online": False, "last_seen": None}]
    friends = httpx.get(f"{service.url}/socket.io/presence/friends", headers=headers, timeout=10)
    assert friends.json() == []
    stranger = httpx.get(
        f"{service.url}/socket.io/presence", params={"user_id": "bob"}, headers=headers, timeout=10
    )
    assert stranger.status_code == 403, stranger.text
    polling = httpx.get(f"{service.url}/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert polling.status_code == 400
    schema = httpx.get(f"{service.url}/socket.io/schema/openapi.json", timeout=10).json()
    assert "/socket.io/presence" in schema["paths"]
