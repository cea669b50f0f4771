"""Idempotency stamps and unambiguous keys, free of any datastore client so every service
(and its domain-adjacent code) may import them; idempotency.py explains how they are used."""

from __future__ import annotations

import contextvars
import hashlib
from dataclasses import dataclass

STAMP_FIELD = "idempotency_key"


def scoped_key(*parts: str) -> str:
    """An unambiguous key from ``parts`` (each length-prefixed: ``3:abc``), for any store key
    built from caller-supplied values: ``("u:x", "k")`` and ``("u", "x:k")`` stay apart."""
    return "".join(f"{len(p)}:{p}" for p in parts)


def record_id(owner: str, key: str) -> str:
    return hashlib.sha256(scoped_key(owner, key).encode()).hexdigest()


@dataclass
class _Stamp:
    record_id: str
    taken: bool = False


_current: contextvars.ContextVar[_Stamp | None] = contextvars.ContextVar(
    "deepiri_idempotency", default=None
)


def stamp() -> dict[str, str]:
    """Fields for the document that commits this request's change (empty without a key).

    Put them into that same document (one insert), never into a later write: a retry after a
    crash looks for them to decide that the change was already applied."""
    current = _current.get()
    if current is None:
        return {}
    current.taken = True
    return {STAMP_FIELD: current.record_id}


__all__ = ["STAMP_FIELD", "record_id", "scoped_key", "stamp"]
