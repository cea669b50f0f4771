"""What every benchmark needs: wrk with real tokens, an async load loop, percentiles."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

# A random caller per request, or (sequential) each token in turn, the threads taking every
# stride-th one from their own start, so no token is sent twice until the list runs out;
# the summary comes back as one JSON line.
WRK_SCRIPT = """
local tokens = {%(tokens)s}
local method, path, body = "%(method)s", "%(path)s", %(body)s
local sequential, stride, started = %(sequential)s, %(stride)d, 0
function setup(thread)
  thread:set("position", started)
  started = started + 1
end
local function pick()
  if not sequential then return tokens[math.random(#tokens)] end
  local token = tokens[(position %% #tokens) + 1]
  position = position + stride
  return token
end
request = function()
  local headers = {["Authorization"] = "Bearer " .. pick()}
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, path, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests":%%d,"duration_us":%%d,"errors":%%d,"non2xx":%%d,"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def run_wrk(
    url: str,
    tokens: list[str],
    method: str,
    path: str,
    body: str | None,
    conns: int,
    seconds: int,
    timeout: str = "120s",
    sequential: bool = False,
) -> dict[str, Any]:
    """wrk's raw summary (requests, duration_us, errors, non2xx, p50_us, p99_us); each
    request carries a random one of ``tokens``, or the next one if ``sequential``."""
    threads = min(conns, 2)
    script = WRK_SCRIPT % {
        "tokens": ",".join(json.dumps(t) for t in tokens),
        "method": method,
        "path": path,
        "body": json.dumps(body) if body else "nil",
        "sequential": "true" if sequential else "false",
        "stride": threads,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", timeout]
        out = subprocess.run(
            [*command, "-s", handle.name, url],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(handle.name)
    result: dict[str, Any] = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    if result["errors"] or result["non2xx"]:
        raise SystemExit(f"wrk saw errors on {method} {path}: {result}\n{out}")
    return result


def wrk_figures(result: dict[str, Any]) -> dict[str, float]:
    return {
        "req_s": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
    }


async def run_loop(
    operation: Callable[[], Awaitable[Any]], conns: int, seconds: float
) -> tuple[int, float, list[float]]:
    """Run ``operation`` from ``conns`` concurrent workers for ``seconds``."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await operation()
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return len(latencies), time.perf_counter() - started, latencies


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile of latencies in seconds, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000


def loop_figures(count: int, elapsed: float, latencies: list[float]) -> dict[str, float]:
    return {
        "req_s": count / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }
