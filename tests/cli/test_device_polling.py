"""``deepiri login`` waiting for the person (RFC 8628 §3.4-3.5), against a token endpoint on
loopback that answers as the RFC says: pending, slow down, denied, expired, then a token.
(The whole sign-in against the real user-service is tests/system/test_cli.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest

from deepiri_cli.main import DEVICE_CODE, CliError, oauth_client, poll
from support.loopback import LoopbackServer

pytestmark = pytest.mark.unit
DEVICE = {"device_code": "dc-1", "user_code": "ABCD-EFGH", "interval": 5, "expires_in": 600}
TOKEN = {"access_token": "at", "token_type": "Bearer", "expires_in": 600, "refresh_token": "rt"}


class TokenEndpoint:
    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, list[str]]] = []

        def respond(_: Any, body: bytes) -> tuple[int, str, bytes]:
            self.requests.append(parse_qs(body.decode()))
            answer = self.answers.pop(0)
            return (
                (400 if "error" in answer else 200),
                "application/json",
                json.dumps(answer).encode(),
            )

        self.server = LoopbackServer(respond)
        self.url = f"{self.server.url}/token"


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[TokenEndpoint]:
    server = TokenEndpoint(list(request.param))
    yield server
    server.server.close()


class Clock:
    """Time that passes only when the poller sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def polled(endpoint: TokenEndpoint, clock: Clock, device: dict[str, Any] = DEVICE) -> Any:
    with oauth_client("deepiri-cli") as client:
        return poll(client, endpoint.url, device, sleep=clock.sleep, clock=clock)


@pytest.mark.parametrize(
    "endpoint",
    [
        [
            {"error": "authorization_pending"},
            {"error": "slow_down"},
            {"error": "authorization_pending"},
            TOKEN,
        ]
    ],
    indirect=True,
)
def test_waits_the_interval_slows_down_when_told_and_returns_the_token(
    endpoint: TokenEndpoint,
) -> None:
    clock = Clock()
    token = polled(endpoint, clock)
    assert token["access_token"] == "at"
    assert token["refresh_token"] == "rt"
    assert clock.sleeps == [5, 5, 10, 10]  # slow_down: 5 seconds more from then on
    for sent in endpoint.requests:
        assert sent["grant_type"] == [DEVICE_CODE]
        assert sent["device_code"] == ["dc-1"]
        assert sent["client_id"] == ["deepiri-cli"]


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ([{"error": "authorization_pending"}, {"error": "access_denied"}], "denied"),
        ([{"error": "expired_token"}], "expired"),
        ([{"error": "invalid_client", "error_description": "unknown client"}], "unknown client"),
    ],
    indirect=["endpoint"],
)
def test_a_refusal_ends_the_wait(endpoint: TokenEndpoint, message: str) -> None:
    with pytest.raises(CliError, match=message):
        polled(endpoint, Clock())


@pytest.mark.parametrize("endpoint", [[{"error": "authorization_pending"}] * 3], indirect=True)
def test_gives_up_when_the_code_expires(endpoint: TokenEndpoint) -> None:
    clock = Clock()
    with pytest.raises(CliError, match="expired"):
        polled(endpoint, clock, {**DEVICE, "expires_in": 16})
    assert clock.sleeps == [5, 5, 5]  # a fourth poll would come after the code's lifetime
