"""Run a request again when a datastore was busy and re-running is safe.

The exception handlers (problems.py) turn a datastore that is unavailable or busy into a 503
problem; when the error failed fast (FerretDB's "database is locked", a refused connection)
they also mark the request as worth another try. A request is run again only if it is safe:
a GET/HEAD (this middleware), or a keyed unsafe request whose write path has not yet asked
for its idempotency stamp (idempotency.py). A timeout is never retried: it has already spent
the caller's time.

:func:`backoff` is the one schedule of waits every retry loop in the kit uses (a busy
datastore here, a failing JWKS endpoint, an event handler, an upstream, a start-up step).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

ASGIApp = Any
ATTEMPTS = 3
RETRY_MARK = "deepiri.retry_busy"  # set in the ASGI scope by the exception handler
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def mark_retryable(scope: dict[str, Any]) -> None:
    scope[RETRY_MARK] = True


def take_retry_mark(scope: dict[str, Any]) -> bool:
    return bool(scope.pop(RETRY_MARK, False))


def backoff(failures: int, *, first: float, limit: float = math.inf, factor: float = 2.0) -> float:
    """How long to wait after ``failures`` failures in a row: ``first`` after one, ``factor``
    times longer after each further one, never more than ``limit``."""
    return float(min(limit, first * factor ** max(0, failures - 1)))


async def pause(attempt: int) -> None:
    """Between attempts at a busy request: 50 ms, then 200 ms."""
    await asyncio.sleep(backoff(attempt, first=0.05, factor=4, limit=0.2))


class RetryBusyMiddleware:
    """Safe methods only; the answer of the last attempt is what the client gets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in SAFE:
            await self.app(scope, receive, send)
            return
        for attempt in range(1, ATTEMPTS + 1):
            dropped = False
            last = attempt == ATTEMPTS

            async def gate(message: dict[str, Any], last: bool = last) -> None:
                nonlocal dropped
                if (
                    message["type"] == "http.response.start"
                    and message["status"] == 503
                    and take_retry_mark(scope)
                    and not last
                ):
                    dropped = True  # nothing has reached the client yet: try again
                if not dropped:
                    await send(message)

            scope.pop(RETRY_MARK, None)
            await self.app(scope, receive, gate)
            if not dropped:
                return
            await pause(attempt)


__all__ = ["ATTEMPTS", "RetryBusyMiddleware", "backoff", "mark_retryable", "take_retry_mark"]
