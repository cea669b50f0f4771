"""Readiness: every dependency a service declared is checked concurrently with a short
timeout. 200 when all answer; 503 naming each one that did not. Background workers that can
fail on their own (an event consumer) add checks of their own (:func:`worker_checks`).

A check that is not ``required`` (a dependency only one feature needs, whose work waits while
it is away) does not take the pod out of rotation: when only such checks fail, readiness
answers 200 ``degraded`` and names them under ``degraded``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx

from deepiri_kit.tracing import untraced


@dataclass(frozen=True)
class Check:
    name: str
    probe: Callable[[], Awaitable[Any]]
    required: bool = True


@runtime_checkable
class ReportsReadiness(Protocol):
    """A worker whose own state belongs in readiness (e.g. a consumer in an error loop)."""

    def checks(self) -> list[Check]: ...


def worker_checks(workers: Iterable[object]) -> list[Check]:
    """The readiness checks of every worker that reports its own."""
    return [c for w in workers if isinstance(w, ReportsReadiness) for c in w.checks()]


async def _run(check: Check, limit: float) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            result = await check.probe()
        if result is False:
            raise RuntimeError("probe reported failure")
    except TimeoutError:
        return {"status": "down", "error": f"no answer within {limit:g}s"}
    except Exception as exc:
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "up", "latency_ms": round((time.perf_counter() - start) * 1000, 2)}


async def readiness(checks: Sequence[Check], limit: float) -> tuple[bool, dict[str, Any]]:
    with untraced():
        results = await asyncio.gather(*(_run(c, limit) for c in checks))
    report = dict(zip((c.name for c in checks), results, strict=True))
    down = [c for c in checks if report[c.name]["status"] != "up"]
    failing = [c.name for c in down if c.required]
    degraded = [c.name for c in down if not c.required]
    status = "unavailable" if failing else "degraded" if degraded else "ok"
    body: dict[str, Any] = {"status": status, "checks": report}
    if failing:
        body["failing"] = failing
    if degraded:
        body["degraded"] = degraded
    return not failing, body


def mongo_check(client: Any) -> Check:
    return Check("mongodb", lambda: client.admin.command("ping"))


def redis_check(client: Any) -> Check:
    return Check("redis", client.ping)


def influx_check(client: Any, *, required: bool = True) -> Check:
    return Check("influxdb", client.ping, required=required)


def http_check(name: str, http: httpx.AsyncClient, url: str) -> Check:
    async def probe() -> None:
        response = await http.get(url)
        if response.status_code >= 400:
            raise RuntimeError(f"HTTP {response.status_code}")

    return Check(name, probe)
