"""The model endpoint: any server speaking OpenAI's Chat Completions protocol (OpenAI, vLLM,
Ollama, llama.cpp's server), through the ``openai`` SDK.

One :meth:`ModelEndpoint.complete` is one answer: a structured-output request (the draft's
JSON schema), every attempt bounded by a timeout, 429 and 5xx retried — after the server's
``Retry-After`` when it gives one, else with back-off — while the call's budget lasts, and a
circuit breaker that stops calling a failing endpoint for a while. Plain or streamed (SSE)
as configured; either way the answer's text and its token usage come back.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import openai

from ai_service.domain.usage import Usage
from deepiri_kit import CircuitBreaker, backoff

RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class ModelUnavailable(Exception):
    """No answer: not configured, circuit open, failed, or out of time. ``reason`` is a
    short, bounded label (metrics use it)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    text: str
    usage: Usage
    model: str
    attempts: int


class ModelEndpoint:
    def __init__(
        self,
        client: openai.AsyncOpenAI | None,
        *,
        breaker: CircuitBreaker,
        attempt_timeout: float,
        budget: float,
        retries: int,
        stream: bool = False,
        max_tokens: int = 1500,
    ) -> None:
        self.client = client
        self.breaker = breaker
        self.attempt_timeout = attempt_timeout
        self.budget = budget
        self.retries = retries
        self.stream = stream
        self.max_tokens = max_tokens

    @property
    def configured(self) -> bool:
        return self.client is not None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    async def complete(
        self, model: str, messages: list[dict[str, str]], response_format: dict[str, Any]
    ) -> Answer:
        """The model's answer text, or :class:`ModelUnavailable`. A breaker that is open
        refuses at once; every failed call (after its retries) counts against it."""
        if self.client is None:
            raise ModelUnavailable("not_configured")
        if not self.breaker.allow():
            raise ModelUnavailable("breaker_open")
        deadline = time.monotonic() + self.budget
        attempt = 0
        while True:
            attempt += 1
            left = deadline - time.monotonic()
            try:
                async with asyncio.timeout(min(self.attempt_timeout, left)):
                    text, usage = await self._ask(model, messages, response_format)
            except TimeoutError:
                wait, reason = None, "timeout"
            except openai.APIStatusError as exc:
                reason = f"http_{exc.status_code}"
                if exc.status_code not in RETRIED_STATUSES:
                    self.breaker.record_failure()
                    raise ModelUnavailable(reason, str(exc)[:200]) from None
                wait = retry_after(exc.response.headers)
            except openai.APIError:  # connection refused or reset, a broken stream
                wait, reason = None, "connection"
            else:
                self.breaker.record_success()
                return Answer(text=text, usage=usage, model=model, attempts=attempt)
            if wait is None:
                jitter = 0.75 + random.random() / 2  # noqa: S311 - spreads retries only
                wait = backoff(attempt, first=0.25, limit=4.0) * jitter
            if attempt > self.retries or time.monotonic() + wait >= deadline:
                # Out of tries, or the server asks for longer than this call has left: the
                # caller answers with the fallback now instead of waiting.
                self.breaker.record_failure()
                raise ModelUnavailable(reason, f"after {attempt} attempt(s)")
            await asyncio.sleep(wait)

    async def _ask(
        self, model: str, messages: list[dict[str, str]], response_format: dict[str, Any]
    ) -> tuple[str, Usage]:
        assert self.client is not None
        common: dict[str, Any] = {
            "model": model,
            "messages": [],
            "temperature": 0.4,
            "max_tokens": self.max_tokens,
            # The messages and the schema are sent as they are (extra_body replaces the
            # typed parameters): the SDK would otherwise walk both through its typed-parameter
            # transform, a string character by character, on every call — measured at most of
            # the platform's overhead per answer (tools/bench/bench_agent.py).
            "extra_body": {"messages": messages, "response_format": response_format},
        }
        if not self.stream:
            completion = await self.client.chat.completions.create(**common)
            usage = completion.usage
            text = completion.choices[0].message.content if completion.choices else None
            return text or "", Usage(
                usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0
            )
        chunks: list[str] = []
        used = Usage()
        stream = await self.client.chat.completions.create(
            **common, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            if chunk.usage is not None:
                used = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices:
                if choice.delta.content:
                    chunks.append(choice.delta.content)
        return "".join(chunks), used


def retry_after(headers: Any) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms`` or ``retry-after`` in seconds)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def endpoint_client(base_url: str, api_key: str, *, connect_timeout: float) -> openai.AsyncOpenAI:
    """The SDK's client, with its own retries off: :class:`ModelEndpoint` retries, within
    the call's budget, and counts failures for its breaker."""
    return openai.AsyncOpenAI(
        base_url=base_url,
        # Local servers (Ollama, llama.cpp) need no key, but the SDK insists on one.
        api_key=api_key or "unused",
        max_retries=0,
        timeout=openai.Timeout(60.0, connect=connect_timeout),
    )
