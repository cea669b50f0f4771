"""The use cases: generate a challenge, understand a task. Each answer is the model's when a
model endpoint is configured, its circuit is closed and it answers something the platform
allows (one repair round allowed); otherwise the deterministic fallback's. Either way the
answer says which, and is checked against the platform's rules before it leaves."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from ai_service.domain import challenges, tasks
from ai_service.domain.prompts import (
    PromptTemplate,
    UseCase,
    render,
    repair,
    response_format,
)
from ai_service.domain.usage import Price, Usage, cost
from ai_service.store.cache import AnswerCache, cache_key
from ai_service.store.model import Answer, ModelEndpoint, ModelUnavailable
from deepiri_kit import Invalid, RateLimiter, TooManyRequests, metrics, tracer, utcnow
from deepiri_kit.contracts.agent import (
    GOAL_TARGETS,
    KIND_METRICS,
    REWARD_RANGE,
    ChallengeRequest,
    GeneratedChallenge,
    TaskUnderstanding,
    TaskUnderstandingRequest,
)

log = logging.getLogger("ai_service")
D = TypeVar("D")
T = TypeVar("T")
R = TypeVar("R")

ANSWERS = metrics.counter(
    "deepiri_agent_answers_total",
    "Answers given, by use case, who answered (model/fallback) and why the fallback did.",
    ("use_case", "answered_by", "reason"),
)
MODEL_CALLS = metrics.counter(
    "deepiri_agent_model_calls_total",
    "Calls to the model endpoint, by use case, model and outcome.",
    ("use_case", "model", "outcome"),
)
TOKENS = metrics.counter(
    "deepiri_agent_tokens_total",
    "Tokens the model endpoint counted, by use case, model and direction (prompt/completion).",
    ("use_case", "model", "direction"),
)
COST = metrics.counter(
    "deepiri_agent_cost_usd_total",
    "What the model calls cost (OPENAI_PRICES), by use case and model.",
    ("use_case", "model"),
)
MODEL_SECONDS = metrics.histogram(
    "deepiri_agent_model_seconds",
    "Time a model answer took (attempts, retries and repair included), by use case.",
    ("use_case",),
)
CACHE = metrics.counter(
    "deepiri_agent_cache_total",
    "Answer cache look-ups, by use case and result.",
    ("use_case", "result"),
)
BREAKER = metrics.gauge(
    "deepiri_agent_breaker_open",
    "1 while the circuit to the model endpoint is open.",
    multiprocess_mode="livemax",
)


@dataclass(frozen=True)
class Prompts:
    challenge: PromptTemplate
    task: PromptTemplate


@dataclass(frozen=True)
class Drafted:
    """A model's accepted draft, with what getting it took."""

    draft: Any
    answer: Answer
    usage: Usage


class AgentService:
    def __init__(
        self,
        endpoint: ModelEndpoint,
        prompts: Prompts,
        models: Callable[[UseCase], str],
        cache: AnswerCache,
        limiter: RateLimiter | None,
        prices: dict[str, Price],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.endpoint = endpoint
        self.prompts = prompts
        self.models = models
        self.cache = cache
        self.limiter = limiter
        self.prices = prices
        self.clock = clock
        self.challenge_format = response_format("challenge", challenges.ChallengeDraft)
        self.task_format = response_format("task", tasks.TaskDraft)

    # --- challenge generation -------------------------------------------------------------

    async def generate_challenge(self, request: ChallengeRequest) -> GeneratedChallenge:
        template = self.prompts.challenge
        model = self.models("challenge")
        key = cache_key("challenge", template.version, model, request)
        cached = await self._cached("challenge", key, GeneratedChallenge)
        if cached is not None:
            return cached
        zone(request.time_zone)  # an unknown zone is the caller's mistake: 422
        await self._limit(request.user_id)
        difficulty = challenges.difficulty_for(request)
        rules = {
            "kind": request.kind,
            "difficulty": difficulty,
            "reward_points_range": REWARD_RANGE[difficulty],
            # what the platform pays at the player's level (the fallback's reward)
            "reward_points_for_level": challenges.reward_for(difficulty, request.level),
            "goal_metrics_allowed": KIND_METRICS[request.kind],
            "goal_target_ranges": GOAL_TARGETS,
            "skill_ids_allowed": [s.skill_id for s in request.skills],
            "time_limit_hours_range": [1, 24 * 60],
            "streak_rule": "a streak of N days needs time_limit_hours >= N*24",
            "milestones_rule": "strictly rising, each below goal.target",
        }
        data = {
            "level": request.level,
            "time_zone": request.time_zone,
            "recent_tasks": request.recent_tasks,
            "skills": request.skills,
        }
        try:
            drafted = await self._draft(
                "challenge",
                template,
                model,
                render(template, data, rules),
                self.challenge_format,
                challenges.ChallengeDraft,
                lambda d: challenges.check_draft(d, request),
            )
        except ModelUnavailable as exc:
            answer = challenges.fallback(request, prompt_version=template.version)
            return self._answered("challenge", answer, exc.reason)
        challenge = challenges.from_draft(
            drafted.draft,
            request,
            answered_by="model",
            prompt_version=template.version,
            model=drafted.answer.model,
        )
        await self.cache.put(key, challenge)
        return self._answered("challenge", challenge, "")

    # --- task understanding ---------------------------------------------------------------

    async def understand_task(self, request: TaskUnderstandingRequest) -> TaskUnderstanding:
        template = self.prompts.task
        model = self.models("task")
        key = cache_key("task", template.version, model, request)
        cached = await self._cached("task", key, TaskUnderstanding)
        if cached is not None:
            return cached
        tz = zone(request.time_zone)
        await self._limit(request.user_id)
        now = request.now or self.clock()
        local = now.astimezone(tz)
        rules = {
            "time_zone": request.time_zone,
            "now_local": local.strftime("%Y-%m-%dT%H:%M"),
            "weekday": local.strftime("%A"),
            "skill_ids_allowed": request.skills,
        }
        data = {"note": request.text, "tags_in_use": request.tags}
        try:
            drafted = await self._draft(
                "task",
                template,
                model,
                render(template, data, rules),
                self.task_format,
                tasks.TaskDraft,
                lambda d: tasks.check_draft(d, request, tz, now),
            )
        except ModelUnavailable as exc:
            answer = tasks.fallback(request, tz, now, prompt_version=template.version)
            return self._answered("task", answer, exc.reason)
        result = tasks.from_draft(
            drafted.draft,
            tz,
            answered_by="model",
            prompt_version=template.version,
            model=drafted.answer.model,
        )
        await self.cache.put(key, result)
        return self._answered("task", result, "")

    # --- the parts both share ---------------------------------------------------------------

    async def _draft(
        self,
        use_case: UseCase,
        template: PromptTemplate,
        model: str,
        asked: list[dict[str, str]],
        response: dict[str, Any],
        kind: type[D],
        check: Callable[[D], list[str]],
    ) -> Drafted:
        """The model's draft that decodes and passes ``check``: the first answer, or the one
        after telling the model what was wrong (once). ModelUnavailable otherwise."""
        started = time.perf_counter()
        usage = Usage()
        with tracer().start_as_current_span(f"chat {model}") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.system", "openai")
            span.set_attribute("gen_ai.request.model", model)
            span.set_attribute("deepiri.agent.use_case", use_case)
            span.set_attribute("deepiri.agent.prompt_version", template.version)
            try:
                for round_ in (1, 2):
                    try:
                        answer = await self.endpoint.complete(model, asked, response)
                    except ModelUnavailable as exc:
                        MODEL_CALLS.labels(use_case, model, exc.reason).inc()
                        span.set_attribute("deepiri.agent.failure", exc.reason)
                        raise
                    usage += answer.usage
                    outcome = decode(answer.text, kind, check)
                    accepted, problems = outcome
                    if accepted is not None:
                        MODEL_CALLS.labels(use_case, model, "ok").inc()
                        return Drafted(accepted, answer, usage)
                    MODEL_CALLS.labels(use_case, model, "refused").inc()
                    log.info(
                        "model answer refused",
                        extra={"use_case": use_case, "round": round_, "problems": problems},
                    )
                    asked = repair(template, asked, answer.text, problems)
                span.set_attribute("deepiri.agent.failure", "refused")
                raise ModelUnavailable("refused", "; ".join(problems)[:300])
            finally:
                self._account(use_case, model, usage, span)
                BREAKER.set(1 if self.endpoint.breaker.state == "open" else 0)
                MODEL_SECONDS.labels(use_case).observe(time.perf_counter() - started)

    def _account(self, use_case: str, model: str, usage: Usage, span: Any) -> None:
        spent = cost(usage, model, self.prices)
        TOKENS.labels(use_case, model, "prompt").inc(usage.prompt_tokens)
        TOKENS.labels(use_case, model, "completion").inc(usage.completion_tokens)
        COST.labels(use_case, model).inc(spent)
        span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
        span.set_attribute("deepiri.agent.cost_usd", spent)

    async def _cached(self, use_case: str, key: str, kind: type[R]) -> R | None:
        found = await self.cache.get(key, kind)
        CACHE.labels(use_case, "hit" if found is not None else "miss").inc()
        return found

    async def _limit(self, user_id: str) -> None:
        if self.limiter is None:
            return
        verdict = await self.limiter.check(f"user:{user_id}")
        if verdict is not None and not verdict.allowed:
            raise TooManyRequests(
                f"too many answers for this user; retry in {verdict.retry_after}s",
                headers={"Retry-After": str(verdict.retry_after)},
            )

    def _answered(self, use_case: str, answer: R, reason: str) -> R:
        by = getattr(answer, "answered_by", "fallback")
        ANSWERS.labels(use_case, by, reason or "none").inc()
        return answer


def decode(text: str, kind: type[T], check: Callable[[T], list[str]]) -> tuple[T | None, list[str]]:
    """The draft in ``text`` if it is JSON of the draft's shape and the platform allows it;
    else None and what is wrong (told to the model in the repair round)."""
    body = text.strip()
    if body.startswith("```"):  # some local models fence their JSON
        body = body.strip("`").removeprefix("json").strip()
    try:
        draft = msgspec.json.decode(body.encode(), type=kind)
    except msgspec.ValidationError as exc:
        return None, [f"the JSON does not match the schema: {exc}"]
    except msgspec.DecodeError:
        return None, ["the answer is not one JSON object"]
    problems = check(draft)
    return (None, problems) if problems else (draft, [])


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {name!r}", field="time_zone") from None
