"""The six currencies, amount bounds and conversion rates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from gamification_service.domain import InvalidAmount, InvalidInput, UnknownCurrency

Currency = Literal["xp", "coins", "gems", "energy", "tokens", "stars"]
CURRENCIES: Final[tuple[Currency, ...]] = ("xp", "coins", "gems", "energy", "tokens", "stars")
# XP measures progress: it is earned, never spent or converted.
Spendable = Literal["coins", "gems", "energy", "tokens", "stars"]
SPENDABLE: Final = frozenset({"coins", "gems", "energy", "tokens", "stars"})
MAX_AMOUNT: Final = 1_000_000


def check_currency(name: str, *, spendable: bool = False) -> str:
    if name not in CURRENCIES:
        raise UnknownCurrency(f"unknown currency {name!r}; known: {', '.join(CURRENCIES)}")
    if spendable and name not in SPENDABLE:
        raise UnknownCurrency(f"{name} cannot be spent or converted")
    return name


def check_amount(amount: int) -> int:
    """Amounts in requests are positive integers no larger than MAX_AMOUNT."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount("amount must be an integer")
    if amount <= 0:
        raise InvalidAmount("amount must be positive")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"amount must be at most {MAX_AMOUNT}")
    return amount


@dataclass(frozen=True)
class Rate:
    """``give`` units of ``source`` buy ``get`` units of ``target``."""

    source: str
    target: str
    give: int
    get: int


def parse_rates(text: str) -> dict[tuple[str, str], Rate]:
    """``"coins:gems=100:1,gems:coins=1:80"`` → rates; raises InvalidInput naming the bad part."""
    rates: dict[tuple[str, str], Rate] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            pair, ratio = part.split("=")
            source, target = pair.split(":")
            give, get = (int(x) for x in ratio.split(":"))
        except ValueError:
            raise InvalidInput(f"conversion rate {part!r} is not 'from:to=give:get'") from None
        s, t = check_currency(source, spendable=True), check_currency(target, spendable=True)
        if s == t or give <= 0 or get <= 0 or "energy" in (s, t):
            raise InvalidInput(f"conversion rate {part!r} is not allowed")
        rates[(s, t)] = Rate(s, t, give, get)
    return rates


def convert(rates: dict[tuple[str, str], Rate], source: str, target: str, amount: int) -> Rate:
    """Check a conversion of ``amount`` units of ``source``; returns its rate."""
    check_currency(source, spendable=True)
    check_currency(target, spendable=True)
    check_amount(amount)
    rate = rates.get((source, target))
    if rate is None:
        raise UnknownCurrency(f"no conversion from {source} to {target}")
    if amount % rate.give:
        raise InvalidAmount(f"amount must be a multiple of {rate.give} {source}")
    return rate
