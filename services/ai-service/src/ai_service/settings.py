"""The service's typed environment. The mixins decide which clients the kit opens and what
readiness checks; they must match the chart's ``datastores`` for this service (Redis: the
answer cache and the per-user limits)."""

from __future__ import annotations

from dataclasses import dataclass

from deepiri_kit import OptionalSecret, RedisSettings, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class AiSettings(ServiceSettings, RedisSettings):
    service_name: str = "ai-service"
    port: int = 8000
    # The model endpoint: any OpenAI-compatible API (…/v1). Empty: no model, every answer is
    # the deterministic fallback's. The key may be empty for local servers that need none.
    openai_base_url: str = ""
    openai_api_key: OptionalSecret = ""
    # The model per use case (OPENAI_MODEL when a use case names none).
    openai_model: str = "gpt-4o-mini"
    openai_model_challenge: str = ""
    openai_model_task: str = ""
    # Stream answers (SSE) instead of one response: the same answer, sooner first bytes.
    openai_stream: bool = False
    # One attempt may take this long; one answer (attempts, waits, one repair) this long in
    # all, then the fallback answers. Retries: 429 and 5xx (after Retry-After if it fits).
    openai_timeout_seconds: float = 20.0
    openai_budget_seconds: float = 30.0
    openai_connect_timeout_seconds: float = 2.0
    openai_retries: int = 2
    openai_max_tokens: int = 1500
    # USD per million tokens, per model: "gpt-4o-mini=0.15/0.6,other=input/output".
    openai_prices: str = ""
    # The circuit breaker: open after this many failed calls in a row, try again after this.
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0
    # Prompt versions in use (files in ai_service/prompts).
    prompt_challenge: str = "challenge-v1"
    prompt_task: str = "task-v1"
    # Identical requests within this many seconds are answered from the cache (0: off).
    answer_cache_seconds: float = 60.0
    # Per user (the request's user_id), on top of the kit's per-caller limit: answers a
    # user may ask for per minute, and at once.
    user_rate_per_minute: int = 20
    user_rate_burst: int = 5
    # The kit's per-caller limit: a caller here is a whole service acting for all its users
    # (the per-user limit above is the one that protects the model budget).
    rate_limit_per_minute: int = 6000
    rate_limit_burst: int = 300

    def model_for(self, use_case: str) -> str:
        named = {"challenge": self.openai_model_challenge, "task": self.openai_model_task}
        return named.get(use_case) or self.openai_model
