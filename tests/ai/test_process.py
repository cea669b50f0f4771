"""ai-service as a real process, started as its image starts it, called with a real
client-credentials token from user-service (a real process too): the model's answer through
the local OpenAI-protocol fake, then the fallback when the endpoint dies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from support.agent import CHALLENGES_PATH, UNDERSTAND_PATH, challenge_draft, challenge_request
from support.openai_fake import OpenAIFake
from support.processes import ServiceProcesses
from support.users import PREFIX, start_user_service, trusting

pytestmark = pytest.mark.system

CALLER = "challenge-service"
SECRET = "challenge-service-secret-for-tests"
CLIENTS = [
    {
        "client_id": CALLER,
        "name": "challenge-service",
        "secret": SECRET,
        "grant_types": ["client_credentials"],
        "scope": "agent:invoke",
    },
    {
        "client_id": "other-service",
        "name": "A service without the scope",
        "secret": SECRET,
        "grant_types": ["client_credentials"],
        "scope": "tasks:read",
    },
]


def token(user_service: Any, client_id: str, scope: str) -> str:
    with OAuth2Client(client_id=client_id, client_secret=SECRET, scope=scope, timeout=30) as oauth:
        issued: dict[str, Any] = oauth.fetch_token(
            f"{user_service.url}{PREFIX}/oauth/token", grant_type="client_credentials"
        )
    return str(issued["access_token"])


def test_a_service_token_gets_the_models_answer_and_the_fallback_when_it_dies(
    service_process: ServiceProcesses,
) -> None:
    fake = OpenAIFake()
    fake.answer(challenge_draft())
    users = start_user_service(service_process, CLIENTS, ANSWER_FLOOR_MS="20")
    agent = service_process(
        "ai-service",
        workers=2,
        OPENAI_BASE_URL=fake.url,
        OPENAI_API_KEY=fake.api_key,
        OPENAI_MODEL="fake-model",
        OPENAI_TIMEOUT_SECONDS="1",
        OPENAI_BUDGET_SECONDS="2",
        **trusting(users),
    )
    bearer = {"Authorization": f"Bearer {token(users, CALLER, 'agent:invoke')}"}
    with agent.client(bearer) as client:
        made = client.post(CHALLENGES_PATH, json=challenge_request())
        assert made.status_code == 200, made.text
        assert made.json()["answered_by"] == "model"
        assert len(fake.requests) == 1

        fake.close()  # the endpoint dies: answers keep coming, from the fallback
        fallback = client.post(CHALLENGES_PATH, json=challenge_request(level=12))
        assert fallback.status_code == 200, fallback.text
        assert (fallback.json()["answered_by"], fallback.json()["difficulty"]) == (
            "fallback",
            "hard",
        )
        note = {"user_id": "u1", "text": "call the bank tomorrow at 9am", "time_zone": "UTC"}
        understood = client.post(UNDERSTAND_PATH, json=note)
        assert understood.status_code == 200, understood.text
        assert understood.json()["due_at"].endswith("T09:00:00Z")

    other = {"Authorization": f"Bearer {token(users, 'other-service', 'tasks:read')}"}
    refused = httpx.post(f"{agent.url}{CHALLENGES_PATH}", json=challenge_request(), headers=other)
    assert refused.status_code == 403
    assert httpx.get(f"{agent.url}/health", timeout=10).status_code == 200
    assert "deepiri_agent_answers_total" in httpx.get(f"{agent.url}/metrics", timeout=10).text
