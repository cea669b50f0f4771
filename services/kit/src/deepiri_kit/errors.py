"""Domain errors: what a use case, a rule or a store says went wrong, in the domain's terms.

They know nothing of HTTP (no framework import, so ``domain/`` may raise them). The app
factory maps each kind to one RFC 9457 problem document (:data:`deepiri_kit.problems.
DOMAIN_PROBLEMS`), so the same mistake gets the same status in every service:

==================  ======  ======================================================
error               status  when
==================  ======  ======================================================
NotFound            404     the instance named does not exist (for this caller)
Conflict            409     the request contradicts the current state
InsufficientFunds   409     a debit larger than the balance (a Conflict)
Invalid             422     well-formed input that breaks a rule, or names a value
                            outside a fixed vocabulary (an unknown category)
StalePrecondition   412     the caller's precondition (If-Match) names an old state
Forbidden           403     this caller may not do this, whatever its scopes
==================  ======  ======================================================

Protocol-level errors (malformed syntax, authentication, rate limits, a datastore that is
down) are not the domain's business: the kit raises those as :class:`~deepiri_kit.problems.
Problem` itself.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "DomainError",
    "Forbidden",
    "InsufficientFunds",
    "Invalid",
    "NotFound",
    "StalePrecondition",
]


class DomainError(Exception):
    """Base of the domain errors. ``detail`` is the sentence the caller reads; ``extra``
    becomes extension members of the problem document (keep it to plain JSON values)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    """The instance named does not exist — or belongs to someone else (ids do not leak)."""


class Conflict(DomainError):
    """The request contradicts the current state: blocked, a cycle, a duplicate id with
    different content, too many concurrent changes."""


class InsufficientFunds(Conflict):
    """A debit larger than the balance: a conflict with the wallet's current state."""

    def __init__(self, detail: str, *, currency: str, needed: int, available: int) -> None:
        super().__init__(detail, currency=currency, needed=needed, available=available)
        self.currency = currency
        self.needed = needed
        self.available = available


class Invalid(DomainError):
    """Well-formed input that breaks a rule, or names a value outside a fixed vocabulary
    (an unknown category, currency or metric) wherever it appears: path, query or body."""


class StalePrecondition(DomainError):
    """The caller's precondition names a state that is no longer current. ``etag`` is the
    current entity tag (sent back as ``ETag`` so the caller can re-read and retry)."""

    def __init__(self, detail: str, *, etag: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.etag = etag


class Forbidden(DomainError):
    """This caller may not do this (a rule about who, not a missing scope)."""
