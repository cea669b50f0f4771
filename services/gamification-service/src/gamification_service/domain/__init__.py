"""Pure rules of gamification: no I/O, no framework imports. The errors below are the kit's
domain errors (``deepiri_kit.errors``: Invalid → 422, Conflict → 409, …), which the app maps
to problem documents; a debit the balance cannot cover is the kit's ``InsufficientFunds``.

* :mod:`.currencies` — the six currencies, amount bounds, conversion rates;
* :mod:`.energy` — energy regenerating 1 per minute up to 100, computed lazily;
* :mod:`.levels` — the closed-form XP curve;
* :mod:`.rewards` — what a completed task or challenge pays, with diminishing returns;
* :mod:`.periods` — day / ISO week / month / all-time period keys and boundaries;
* :mod:`.boards` — which leaderboards exist and which period a request names;
* :mod:`.wallet` — the wallet as a deterministic fold over the ledger;
* :mod:`.badges` and :mod:`.catalog` — the declarative badge rule engine and its definitions;
* :mod:`.ratings` — Elo for duels, OpenSkill (Plackett-Luce) for everything else.
"""

from __future__ import annotations

from deepiri_kit.errors import Conflict, Forbidden, Invalid


class InvalidInput(Invalid, ValueError):
    """Well-formed input that breaks a rule (a ValueError too, like any bad plain value)."""


class UnknownCurrency(InvalidInput):
    pass


class InvalidAmount(InvalidInput):
    pass


class InvalidMatch(InvalidInput):
    pass


class UnknownCategory(InvalidInput):
    pass


class UnknownBoard(InvalidInput):
    pass


class DeletedPlayers(InvalidMatch):
    """A match names players whose accounts were deleted (and erased here)."""


class AccountDeleted(Forbidden):
    """The account was deleted: nothing is written for it any more (a request with a token
    issued before the deletion, a late event)."""

    def __init__(self) -> None:
        super().__init__("this account has been deleted")


class KeyReused(InvalidInput):
    """An idempotency key came back with a different request."""


class MatchConflict(Conflict):
    """The match id was already used for a different result."""


class Rejected(Conflict):
    """The wallet refused a debit another write had already made impossible (a lost race
    for the same money); the ledger keeps the entry, as rejected."""

    def __init__(self, reason: str, entry_id: str) -> None:
        super().__init__(
            f"insufficient funds: {reason or 'the balance changed'}", entry_id=entry_id
        )
