"""Asserting on RFC 9457 problem documents."""

from __future__ import annotations

from typing import Any


def is_503_problem(response: Any) -> bool:
    """A 503 problem document that tells the client when to retry."""
    return bool(
        response.status_code == 503
        and response.headers["content-type"].startswith("application/problem+json")
        and int(response.headers["retry-after"]) >= 1
    )
