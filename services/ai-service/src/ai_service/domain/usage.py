"""What a model call cost: tokens in and out, priced per model (USD per million tokens, from
``OPENAI_PRICES``: ``model=input/output,other=input/output``; a model without a price
costs 0, which the metrics then show)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

PER = 1_000_000


class Usage(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


class Price(msgspec.Struct, frozen=True):
    input: float
    output: float


def parse_prices(spec: str) -> dict[str, Price]:
    """``"gpt-4o-mini=0.15/0.6, local=0/0"`` → prices; ValueError names a bad entry."""
    prices: dict[str, Price] = {}
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        model, _, pair = entry.rpartition("=")
        given, _, taken = pair.partition("/")
        try:
            price = Price(float(given), float(taken))
        except ValueError:
            raise ValueError(f"price {entry!r}: write model=input/output") from None
        if not model or price.input < 0 or price.output < 0:
            raise ValueError(f"price {entry!r}: write model=input/output")
        prices[model] = price
    return prices


def cost(usage: Usage, model: str, prices: Mapping[str, Price]) -> float:
    price = prices.get(model)
    if price is None:
        return 0.0
    return (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / PER
