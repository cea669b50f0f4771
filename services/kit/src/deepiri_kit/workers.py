"""Background loops that live as long as the app: event consumers, outbox relays."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger("deepiri.workers")


class Worker(Protocol):
    """A background loop (event consumer, outbox relay) that ends when ``stop`` is set."""

    name: str

    async def run(self, stop: asyncio.Event) -> None: ...


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``, waking early when ``stop`` is set; True if it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def supervise(worker: Worker, stop: asyncio.Event) -> None:
    """Keep a worker running: a crash is logged and the worker restarted with back-off."""
    delay = 0.5
    while not stop.is_set():
        try:
            await worker.run(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker %s crashed; restarting in %.1fs", worker.name, delay)
            await pause(stop, delay)
            delay = min(delay * 2, 30.0)
        else:
            return


class Periodic:
    """Run ``job`` every ``interval`` seconds (housekeeping such as pruning old records)."""

    def __init__(self, name: str, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.interval = interval
        self.job = job

    async def run(self, stop: asyncio.Event) -> None:
        while not await pause(stop, self.interval):
            try:
                await self.job()
            except Exception as exc:  # the next round tries again
                log.warning("%s failed: %s", self.name, exc)
