"""The model endpoint's policy without a server: how long the server asked to wait, and
that an unconfigured or short-circuited endpoint refuses at once (the fallback's cue)."""

from __future__ import annotations

import pytest

from ai_service.store.model import ModelEndpoint, ModelUnavailable, retry_after
from deepiri_kit import CircuitBreaker

pytestmark = [pytest.mark.unit, pytest.mark.anyio]


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "inf"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after(headers) == seconds


def endpoint(breaker: CircuitBreaker, configured: bool = True) -> ModelEndpoint:
    from ai_service.store.model import endpoint_client

    client = (
        endpoint_client("http://127.0.0.1:9/v1", "", connect_timeout=0.2) if configured else None
    )
    return ModelEndpoint(client, breaker=breaker, attempt_timeout=0.5, budget=1.0, retries=0)


async def test_unconfigured_and_open_endpoints_refuse_without_calling() -> None:
    with pytest.raises(ModelUnavailable) as missing:
        await endpoint(CircuitBreaker(), configured=False).complete("m", [], {})
    assert missing.value.reason == "not_configured"

    breaker = CircuitBreaker(threshold=1, reset_after=60)
    refused = endpoint(breaker)
    with pytest.raises(ModelUnavailable) as failed:
        await refused.complete("m", [], {})  # port 9: nothing listens
    assert failed.value.reason in {"connection", "timeout"}
    assert breaker.state == "open"
    with pytest.raises(ModelUnavailable) as short:
        await refused.complete("m", [], {})
    assert short.value.reason == "breaker_open"
    await refused.close()
