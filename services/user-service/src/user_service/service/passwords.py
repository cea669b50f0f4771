"""Argon2id hashing (argon2-cffi) off the event loop, with a cap on hashes at once: a
login flood queues instead of taking every core from the requests already in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from deepiri_kit import metrics

HASHES = metrics.counter(
    "deepiri_password_hashes_total",
    "Argon2id computations, by what they were for (hash, verify, decoy).",
    ("purpose",),
)
WAITING = metrics.gauge(
    "deepiri_password_hashes_waiting", "Password hashes queued behind the concurrency cap."
)


class Passwords:
    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, max_concurrent: int
    ) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(max_concurrent)
        # Verified when the email is unknown, so that answer costs what a wrong password does.
        self._decoy = self.hasher.hash("decoy password for unknown accounts")

    async def _run(self, purpose: str, fn: Callable[..., object], *args: str) -> object:
        WAITING.inc()
        queued = True
        try:
            async with self._slots:
                WAITING.dec()
                queued = False
                HASHES.labels(purpose).inc()
                return await asyncio.to_thread(fn, *args)
        finally:
            if queued:  # cancelled while waiting for a slot
                WAITING.dec()

    async def hash(self, password: str) -> str:
        return str(await self._run("hash", self.hasher.hash, password))

    async def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """(matches, needs re-hash). ``stored`` None: the decoy is verified instead, and
        the answer is always no."""
        target = self._decoy if stored is None else stored
        purpose = "decoy" if stored is None else "verify"
        try:
            await self._run(purpose, self.hasher.verify, target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if stored is None:
            return False, False
        return True, self.hasher.check_needs_rehash(stored)
