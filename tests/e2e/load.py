"""Clients that keep calling the platform through the Ingress from background threads and
count every outcome (the evidence for "no failed requests" and "no accepted write lost")."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# One request against a client (by worker number); returns an outcome label ("ok", "http-502", …).
Call = Callable[[httpx.Client, int], str]


@dataclass
class Load:
    base_url: str
    call: Call
    threads: int = 4
    pause: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=30)

    @property
    def ok(self) -> int:
        return self.outcomes["ok"]

    @property
    def failed(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k != "ok")

    def _run(self, worker: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    outcome = self.call(client, worker)
                except httpx.HTTPError as exc:
                    outcome = f"error-{type(exc).__name__}"
                with self._lock:
                    self.outcomes[outcome] += 1
                    if outcome != "ok" and len(self.failures) < 20:
                        self.failures.append(f"{time.strftime('%X')} worker {worker}: {outcome}")
                if self.pause:
                    time.sleep(self.pause)


def status(response: httpx.Response, expected: int = 200) -> str:
    return (
        "ok"
        if response.status_code == expected
        else f"http-{response.status_code}: {response.text[:120]}"
    )


@dataclass
class Writer:
    """Creates tasks with an Idempotency-Key each, as one of many users (so per-caller rate
    limits never throttle the load); remembers every task the API accepted, and whose."""

    headers: Callable[[str], dict[str, str]]
    users: int = 50
    accepted: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (user, title)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, client: httpx.Client, worker: int) -> str:
        user = f"writer-{random.randrange(self.users)}"
        title = f"w{worker}-{uuid.uuid4().hex[:10]}"
        r = client.post(
            "/api/tasks",
            json={"title": title},
            headers={**self.headers(user), "Idempotency-Key": uuid.uuid4().hex},
        )
        if r.status_code == 201:
            with self._lock:
                self.accepted[r.json()["id"]] = (user, title)
        return status(r, 201)
