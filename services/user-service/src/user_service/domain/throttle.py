"""Login throttling: after a few free failures, each further failure locks the key (an
account or a client address) for twice as long as the last, up to a cap."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    free: int  # failures allowed without any wait
    base_seconds: float
    cap_seconds: float

    def lock_seconds(self, failures: int) -> float:
        """How long the key stays locked after its ``failures``-th failure in the window."""
        if failures <= self.free:
            return 0.0
        return min(self.cap_seconds, self.base_seconds * 2.0 ** (failures - self.free - 1))


ACCOUNT_FREE = 5
ADDRESS_FREE = 20
CAP_SECONDS = 900.0


def policies(base_seconds: float = 1.0) -> tuple[Backoff, Backoff]:
    """Per account and per client address: 5 and 20 free failures, then 1, 2, 4 … seconds."""
    return (
        Backoff(free=ACCOUNT_FREE, base_seconds=base_seconds, cap_seconds=CAP_SECONDS),
        Backoff(free=ADDRESS_FREE, base_seconds=base_seconds, cap_seconds=CAP_SECONDS),
    )


ACCOUNT, ADDRESS = policies()


def account_key(email: str) -> str:
    """Counters are keyed by a digest: Redis never holds the addresses people typed."""
    return hashlib.sha256(email.encode()).hexdigest()[:32]
