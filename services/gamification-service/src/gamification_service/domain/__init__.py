"""Pure rules of gamification: no I/O, no framework imports.

* :mod:`.currencies` — the six currencies, amount bounds, conversion rates;
* :mod:`.energy` — energy regenerating 1 per minute up to 100, computed lazily;
* :mod:`.levels` — the closed-form XP curve;
* :mod:`.rewards` — what a completed task or challenge pays, with diminishing returns;
* :mod:`.periods` — day / ISO week / month / all-time period keys and boundaries;
* :mod:`.wallet` — the wallet as a deterministic fold over the ledger;
* :mod:`.badges` and :mod:`.catalog` — the declarative badge rule engine and its definitions;
* :mod:`.ratings` — Elo for duels, OpenSkill (Plackett-Luce) for everything else.
"""

from __future__ import annotations


class DomainError(ValueError):
    """A rule was broken by the input; the API turns it into a 4xx problem."""


class UnknownCurrency(DomainError):
    pass


class InvalidAmount(DomainError):
    pass


class InsufficientFunds(DomainError):
    def __init__(self, currency: str, needed: int, available: int) -> None:
        super().__init__(f"insufficient {currency}: needed {needed}, available {available}")
        self.currency = currency
        self.needed = needed
        self.available = available


class InvalidMatch(DomainError):
    pass
