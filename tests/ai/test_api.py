"""ai-service through its HTTP API, on real Redis, its model endpoint the local OpenAI-protocol
fake: structured output, the repair round, retries honouring Retry-After, timeouts, the
circuit breaker, the fallback, the cache, per-user limits, auth, bad input, usage metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ai_service.app import create_app
from ai_service.settings import AiSettings
from support.agent import (
    CHALLENGES_PATH,
    UNDERSTAND_PATH,
    challenge_draft,
    challenge_request,
    service_headers,
    task_draft,
)
from support.apps import app_client
from support.openai_fake import OpenAIFake, Reply
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def generate(
    client: httpx.AsyncClient, issuer: TokenIssuer, **changes: Any
) -> httpx.Response:
    return await client.post(
        CHALLENGES_PATH, json=challenge_request(**changes), headers=service_headers(issuer)
    )


async def test_the_model_answers_with_structured_output(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> None:
    openai_fake.answer(challenge_draft())
    response = await generate(client, issuer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answered_by"] == "model"
    assert (body["model"], body["prompt_version"], body["kind"]) == (
        "fake-model",
        "challenge-v1",
        "solo",
    )
    assert body["goal"] == {"metric": "tasks_tagged", "target": 5, "tag": "deep-work"}
    [asked] = openai_fake.requests
    assert asked.body["model"] == "fake-model"
    assert asked.body["response_format"]["json_schema"]["strict"] is True
    schema = asked.schema
    assert schema is not None
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) >= {"title", "goal", "reward_points", "milestones"}
    assert "Refactor the parser" in asked.messages[1]["content"]


async def test_streamed_answers_are_the_same_answers(
    settings_for: Callable[..., AiSettings],
    issuer: TokenIssuer,
    openai_fake: OpenAIFake,
    redis: Any,
) -> None:
    openai_fake.answer(challenge_draft(), chunk_delay=0.001)
    async with app_client(create_app(settings_for(openai_stream=True))) as client:
        response = await generate(client, issuer)
    assert response.status_code == 200, response.text
    assert response.json()["answered_by"] == "model"
    assert response.json()["title"] == "Deep work sprint"
    [asked] = openai_fake.requests
    assert asked.body["stream"] is True
    assert asked.body["stream_options"] == {"include_usage": True}


async def test_an_invalid_answer_gets_one_repair_round(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> None:
    openai_fake.queue(Reply(content="Sure! Here is your challenge: {not json"))
    openai_fake.answer(challenge_draft())
    response = await generate(client, issuer)
    assert response.json()["answered_by"] == "model"
    first, second = openai_fake.requests
    assert second.messages[:2] == first.messages
    assert second.messages[2] == {
        "role": "assistant",
        "content": "Sure! Here is your challenge: {not json",
    }
    assert "not one JSON object" in second.messages[3]["content"]


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (challenge_draft(reward_points=5000), "outside medium's range"),
        (
            challenge_draft(goal={"metric": "tasks_completed", "target": 5, "tag": "x"}),
            "goal.tag",
        ),
        (challenge_draft(goal={"metric": "vibes", "target": 1}), "does not match the schema"),
        (challenge_draft(difficulty="easy", reward_points=100), "not asked for"),
    ],
)
async def test_twice_refused_means_the_fallback_answers(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake, bad: str, why: str
) -> None:
    openai_fake.answer(bad)
    response = await generate(client, issuer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answered_by"] == "fallback"
    assert body["model"] is None
    assert 175 <= body["reward_points"] <= 375  # medium, for level 6
    assert len(openai_fake.requests) == 2  # the answer and one repair, no more
    assert why in openai_fake.requests[1].messages[-1]["content"]


async def test_429_is_retried_after_retry_after(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> None:
    openai_fake.queue(Reply(status=429, retry_after=1))
    openai_fake.answer(challenge_draft())
    response = await generate(client, issuer)
    assert response.json()["answered_by"] == "model"
    first, second = openai_fake.requests
    assert second.at - first.at >= 1.0  # the server's wait was honoured


async def test_a_wait_longer_than_the_budget_falls_back_at_once(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> None:
    openai_fake.queue(Reply(status=429, retry_after=60))
    openai_fake.answer(challenge_draft())
    response = await generate(client, issuer)
    assert response.json()["answered_by"] == "fallback"
    assert len(openai_fake.requests) == 1


async def test_5xx_is_retried(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> None:
    openai_fake.queue(Reply(status=500), Reply(status=503))
    openai_fake.answer(challenge_draft())
    assert (await generate(client, issuer)).json()["answered_by"] == "model"
    assert len(openai_fake.requests) == 3


async def test_a_client_error_is_not_retried(
    settings_for: Callable[..., AiSettings],
    issuer: TokenIssuer,
    openai_fake: OpenAIFake,
    redis: Any,
) -> None:
    async with app_client(create_app(settings_for(openai_api_key="wrong-key"))) as client:
        response = await generate(client, issuer)
    assert response.json()["answered_by"] == "fallback"
    assert len(openai_fake.requests) == 0  # the fake refused it before recording (401)


async def test_a_slow_model_times_out_into_the_fallback(
    settings_for: Callable[..., AiSettings],
    issuer: TokenIssuer,
    openai_fake: OpenAIFake,
    redis: Any,
) -> None:
    openai_fake.answer(challenge_draft(), delay=3)
    settings = settings_for(openai_timeout_seconds=0.3, openai_budget_seconds=1.0)
    async with app_client(create_app(settings)) as client:
        response = await generate(client, issuer)
    assert response.json()["answered_by"] == "fallback"
    assert 1 <= len(openai_fake.requests) <= 3


async def test_the_breaker_opens_then_lets_one_trial_through(
    settings_for: Callable[..., AiSettings],
    issuer: TokenIssuer,
    openai_fake: OpenAIFake,
    redis: Any,
) -> None:
    openai_fake.queue(*[Reply(status=500)] * 4)
    settings = settings_for(
        openai_retries=1, breaker_failures=2, breaker_reset_seconds=0.5, answer_cache_seconds=0
    )
    async with app_client(create_app(settings)) as client:
        for _ in range(2):  # two failed calls (two attempts each)
            assert (await generate(client, issuer)).json()["answered_by"] == "fallback"
        assert len(openai_fake.requests) == 4
        assert (await generate(client, issuer)).json()["answered_by"] == "fallback"
        assert len(openai_fake.requests) == 4  # open: the endpoint is not called
        metrics = (await client.get("/metrics")).text
        assert 'deepiri_agent_answers_total{answered_by="fallback",reason="breaker_open"' in metrics
        openai_fake.answer(challenge_draft())
        import anyio

        await anyio.sleep(0.6)
        assert (await generate(client, issuer)).json()["answered_by"] == "model"  # the trial
        assert (await generate(client, issuer, level=7)).json()["answered_by"] == "model"


async def test_without_an_endpoint_the_fallback_answers(
    settings_for: Callable[..., AiSettings],
    issuer: TokenIssuer,
    openai_fake: OpenAIFake,
    redis: Any,
) -> None:
    async with app_client(create_app(settings_for(openai_base_url=""))) as client:
        response = await generate(client, issuer, kind="streak")
    body = response.json()
    assert (body["answered_by"], body["goal"]["metric"]) == ("fallback", "streak_days")
    assert openai_fake.requests == []


async def test_identical_requests_are_answered_from_the_cache(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake, redis: Any
) -> None:
    openai_fake.answer(challenge_draft())
    first = await generate(client, issuer)
    again = await generate(client, issuer)
    assert again.json() == first.json()
    assert len(openai_fake.requests) == 1
    assert len(await redis.keys("agent:answer:challenge:*")) == 1
    await generate(client, issuer, level=7)  # another request: asked afresh
    assert len(openai_fake.requests) == 2


async def test_answers_per_user_are_limited(
    settings_for: Callable[..., AiSettings],
    issuer: TokenIssuer,
    openai_fake: OpenAIFake,
    redis: Any,
) -> None:
    settings = settings_for(openai_base_url="", user_rate_per_minute=6, user_rate_burst=2)
    async with app_client(create_app(settings)) as client:
        statuses = [(await generate(client, issuer, level=n)).status_code for n in (1, 2, 3)]
        assert statuses == [200, 200, 429]
        limited = await generate(client, issuer, level=4)
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        other = await generate(client, issuer, user_id="someone-else")
        assert other.status_code == 200


async def test_only_services_with_the_scope_may_call(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> None:
    body = challenge_request()
    assert (await client.post(CHALLENGES_PATH, json=body)).status_code == 401
    person = issuer.headers("alice", "agent:invoke")  # a person's token (sub != client)
    assert (await client.post(CHALLENGES_PATH, json=body, headers=person)).status_code == 403
    no_scope = service_headers(issuer, scopes="tasks:read")
    denied = await client.post(CHALLENGES_PATH, json=body, headers=no_scope)
    assert denied.status_code == 403
    assert "agent:invoke" in denied.headers["www-authenticate"]
    assert openai_fake.requests == []


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"surprise": True}, 400),
        ({"kind": "quiz"}, 400),
        ({"level": "6"}, 400),
        ({"recent_tasks": [{"title": ""}]}, 400),
        ({"time_zone": "Mars/Olympus_Mons"}, 422),
    ],
)
async def test_bad_input_is_a_problem_and_asks_nothing(
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    openai_fake: OpenAIFake,
    changes: dict[str, Any],
    status: int,
) -> None:
    response = await generate(client, issuer, **changes)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert openai_fake.requests == []


async def test_usage_and_cost_are_metrics(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> None:
    def sample(text: str, name: str) -> float:
        line = next((x for x in text.splitlines() if x.startswith(name)), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    prompt = (
        'deepiri_agent_tokens_total{direction="prompt",model="fake-model",use_case="challenge"}'
    )
    spent = 'deepiri_agent_cost_usd_total{model="fake-model",use_case="challenge"}'
    before = (await client.get("/metrics")).text
    openai_fake.answer(challenge_draft(), usage=(1000, 500))
    await generate(client, issuer, level=8)
    after = (await client.get("/metrics")).text
    assert sample(after, prompt) - sample(before, prompt) == 1000
    # 1000 tokens in at $2/M and 500 out at $8/M
    assert sample(after, spent) - sample(before, spent) == pytest.approx(0.006)


async def test_task_understanding_by_the_model_is_due_in_the_users_zone(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> None:
    openai_fake.answer(task_draft())
    body = {
        "user_id": "u1",
        "text": "write the Q3 report by friday 5pm, ~2h",
        "time_zone": "Europe/Berlin",
        "now": "2026-11-30T09:00:00Z",
    }
    response = await client.post(UNDERSTAND_PATH, json=body, headers=service_headers(issuer))
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["answered_by"], result["due_at"]) == ("model", "2026-12-04T17:00:00+01:00")
    assert result["subtasks"][1]["depends_on"] == [0]
    rules = openai_fake.requests[0].messages[1]["content"]
    assert '"now_local":"2026-11-30T10:00"' in rules


async def test_task_understanding_falls_back_to_reading_the_text(
    settings_for: Callable[..., AiSettings], issuer: TokenIssuer, redis: Any
) -> None:
    body = {
        "user_id": "u1",
        "text": "Write the Q3 report by friday 5pm, ~2h; then send it to Sam",
        "time_zone": "America/New_York",
        "now": "2026-11-30T15:00:00Z",
        "skills": ["writing"],
    }
    async with app_client(create_app(settings_for(openai_base_url=""))) as client:
        response = await client.post(UNDERSTAND_PATH, json=body, headers=service_headers(issuer))
    result = response.json()
    assert result["answered_by"] == "fallback"
    assert result["title"] == "Write the Q3 report"
    assert result["due_at"] == "2026-12-04T17:00:00-05:00"
    assert (result["estimated_minutes"], result["difficulty"]) == (120, "medium")
    assert [s["depends_on"] for s in result["subtasks"]] == [[], [0]]


async def test_a_model_naming_skills_the_user_lacks_is_refused(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake
) -> None:
    openai_fake.answer(task_draft(skill_ids=["rocket-science"]))
    body = {
        "user_id": "u1",
        "text": "study for the exam tomorrow",
        "skills": ["study"],
        "now": "2026-11-30T09:00:00Z",
    }
    response = await client.post(UNDERSTAND_PATH, json=body, headers=service_headers(issuer))
    assert response.json()["answered_by"] == "fallback"
    assert "not the user's" in json.dumps(openai_fake.requests[1].messages[-1])


async def test_each_model_answer_is_a_span_with_its_usage_and_cost(
    client: httpx.AsyncClient, issuer: TokenIssuer, openai_fake: OpenAIFake, spans: Any
) -> None:
    openai_fake.queue(Reply(content="{}", usage=(300, 20)))  # refused, then repaired
    openai_fake.answer(challenge_draft(), usage=(700, 180))
    await generate(client, issuer, level=9)
    [span] = [s for s in spans.get_finished_spans() if s.name == "chat fake-model"]
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.request.model"] == "fake-model"
    assert attributes["gen_ai.usage.input_tokens"] == 1000  # both rounds
    assert attributes["gen_ai.usage.output_tokens"] == 200
    assert attributes["deepiri.agent.cost_usd"] == pytest.approx((1000 * 2 + 200 * 8) / 1e6)
    assert attributes["deepiri.agent.prompt_version"] == "challenge-v1"
    assert "deepiri.agent.failure" not in attributes
