"""Which datastore errors mean "unavailable or busy, try again" (→ 503 with ``Retry-After``,
never a 500), and which of those failed fast enough that retrying at once is worthwhile.

A service installs only the clients it uses, so each client's errors are looked up only if
its package is loaded.
"""

from __future__ import annotations

import sys

RETRY_AFTER_SECONDS = 2
# FerretDB on SQLite reports a busy database as an OperationFailure with this message; the
# operation did not happen, so it is safe to retry.
_BUSY_MESSAGES = ("database is locked", "database table is locked")


def _types() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(unavailable, slow): ``slow`` errors already waited out a timeout. Only clients that
    are loaded can have raised, so nothing is imported here (start-up stays lean)."""
    unavailable: list[type[BaseException]] = [TimeoutError, ConnectionError]
    slow: list[type[BaseException]] = [TimeoutError]
    if "pymongo" in sys.modules:
        from pymongo.errors import (
            ConnectionFailure,
            ExecutionTimeout,
            NetworkTimeout,
            ServerSelectionTimeoutError,
            WaitQueueTimeoutError,
            WTimeoutError,
        )

        unavailable += [ConnectionFailure, ExecutionTimeout, WTimeoutError]
        slow += [NetworkTimeout, ServerSelectionTimeoutError, WaitQueueTimeoutError]
        slow += [ExecutionTimeout, WTimeoutError]
    if "redis" in sys.modules:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        unavailable += [RedisConnectionError, RedisTimeoutError]
        slow += [RedisTimeoutError]
    if "aiohttp" in sys.modules:
        from aiohttp import ClientConnectionError  # influxdb-client's async transport

        unavailable += [ClientConnectionError]
    return tuple(unavailable), tuple(slow)


def _is_busy(exc: BaseException) -> bool:
    if "pymongo" in sys.modules:
        from pymongo.errors import OperationFailure

        if isinstance(exc, OperationFailure):
            message = str(exc).lower()
            return any(m in message for m in _BUSY_MESSAGES)
    return False


def is_transient(exc: BaseException) -> bool:
    """The datastore is unavailable or busy: answer 503 and let the client retry."""
    unavailable, _ = _types()
    return isinstance(exc, unavailable) or _is_busy(exc)


def worth_retrying(exc: BaseException) -> bool:
    """Transient and failed fast (busy, connection refused): one more try may well succeed.
    A timeout has already cost the caller its budget and is not retried."""
    return is_transient(exc) and not isinstance(exc, _types()[1])


__all__ = ["RETRY_AFTER_SECONDS", "is_transient", "worth_retrying"]
