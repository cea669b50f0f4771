"""Waiting for something asynchronous to become true, without fixed sleeps.

Wait for the very state a test then asserts: a system that writes X and then Y is only
known to have written Y once Y is seen, never because X was."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

# How long any wait lasts before the test fails. Generous on purpose: a passing test returns
# as soon as the state appears, so only a failing one waits this long, and a loaded CI machine
# (two workers, several service processes, FerretDB) can take tens of seconds to get there.
PATIENCE = 120.0


def describe(check: Callable[..., Any]) -> str:
    """What ``check`` waits for, for a failure message: its docstring's first line, else its
    name, else (a lambda) its source."""
    if doc := inspect.getdoc(check):
        return doc.splitlines()[0]
    name = getattr(check, "__name__", "") or repr(check)
    if name != "<lambda>":
        return name.replace("_", " ")
    try:
        source = inspect.getsource(check).strip()
    except (OSError, TypeError):
        return "a lambda"
    start = source.find("lambda")
    return source[start:] if start >= 0 else source


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = PATIENCE, what: str | None = None
) -> None:
    """Poll the async ``check`` until it returns true; fail, saying what was awaited, after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not met in {timeout:g}s: {what or describe(check)}")


def wait_for(check: Callable[[], T], timeout: float = PATIENCE, what: str | None = None) -> T:
    """Poll a blocking ``check`` (a test driving real processes) until it returns something
    truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not met in {timeout:g}s: {what or describe(check)}")
