"""What every benchmark needs: its own servers and service processes (:class:`Stack`), wrk
with real tokens, an async load loop, percentiles, a table of rows.

A benchmark puts ``tools`` and ``tests`` on ``sys.path`` before importing this module (the
servers are tools/infra.py's, the processes and the token issuer the test harness's).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any

from infra import FerretDBServer, InfluxServer, RedisServer
from support.processes import ServiceProcess, ServiceProcesses
from support.tokens import TokenIssuer

# A random caller per request (none without tokens), or (sequential) each token in turn, the
# threads taking every stride-th one from their own start, so no token is sent twice until
# the list runs out; the summary comes back as one JSON line.
WRK_SCRIPT = """
local tokens = {%(tokens)s}
local method, path, body = "%(method)s", "%(path)s", %(body)s
local fixed = %(headers)s
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
  local headers = {}
  for name, value in pairs(fixed) do headers[name] = value end
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. pick() end
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


class Stack:
    """A benchmark's own servers — Redis and FerretDB in a scratch directory (InfluxDB too,
    started on first use: user-service records activity there), the harness's token issuer —
    and the service processes it starts on them (the harness's ``ServiceProcesses``);
    everything stops, and the directory goes, when the ``with`` block ends."""

    def __init__(self, name: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        self.redis = RedisServer(self.root)
        self.mongo = FerretDBServer(self.root)
        self.issuer = TokenIssuer()
        self.processes = ServiceProcesses(self.root, self, self.issuer, f"bench_{name}")
        self._influx: InfluxServer | None = None

    @cached_property
    def influx(self) -> InfluxServer:
        self._influx = InfluxServer(self.root)
        self._influx.start()
        return self._influx

    def __enter__(self) -> Stack:
        try:
            self.redis.start()
            self.mongo.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.processes.stop_all()
        if self._influx is not None:
            self._influx.stop()
        self.mongo.stop()
        self.redis.stop()
        self.issuer.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def service(
        self, name: str, db: str, env: Mapping[str, str] | None = None, *, port: int | None = None
    ) -> ServiceProcess:
        """``name`` as a real process with one uvicorn worker on database ``db`` of these
        servers, logging warnings only (``env`` adds to or overrides its environment);
        returns once it answers (its indexes exist)."""
        return self.processes(name, db=db, port=port, **{"LOG_LEVEL": "WARNING", **(env or {})})


def lua_table(values: Mapping[str, str]) -> str:
    return "{" + ",".join(f"[{json.dumps(k)}]={json.dumps(v)}" for k, v in values.items()) + "}"


def run_wrk(
    url: str,
    tokens: list[str],
    method: str,
    path: str,
    body: str | None,
    conns: int,
    seconds: int,
    timeout: str = "120s",
    *,
    headers: Mapping[str, str] | None = None,
    sequential: bool = False,
) -> dict[str, Any]:
    """wrk's raw summary (requests, duration_us, errors, non2xx, p50_us, p99_us) of
    ``method path`` as a random one of ``tokens`` (a bearer token each; none when empty), or
    the next one if ``sequential``, with ``headers`` (a body is JSON unless they say
    otherwise). Errors or a status of 400 and above end the benchmark: such a run measures
    nothing."""
    fixed = {"Content-Type": "application/json"} if body else {}
    threads = min(conns, 2)
    script = WRK_SCRIPT % {
        "tokens": ",".join(json.dumps(t) for t in tokens),
        "method": method,
        "path": path,
        "body": json.dumps(body) if body else "nil",
        "headers": lua_table({**fixed, **(headers or {})}),
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


def print_table(title: str, rows: list[tuple[str, Mapping[str, float]]], width: int = 44) -> None:
    """Rows of figures (``req_s``, ``p50_ms``, ``p99_ms``) under ``title``."""
    print(f"\n{title}")
    print(f"{'what':{width}} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in rows:
        rate = f"{r['req_s']:9.{1 if r['req_s'] < 100 else 0}f}"
        print(f"{name:{width}} {rate} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}")
