#!/usr/bin/env python3
"""task-service: what verifying the caller's access token adds to a request, keys cached.

    .venv/bin/python tools/bench/bench_auth.py [--seconds 5] [--pairs 300]

Starts its own FerretDB and Redis (tools/infra.py) and a local token issuer (RS256 keys and
a JWKS on loopback, as user-service publishes them), runs task-service as a real process
with one uvicorn worker, fetches the keys once (warm-up), and measures the same request,
``GET /api/tasks/{id}`` (one task, read by its id: the cheapest authenticated read, so what
verification adds is not hidden behind a query), in the same run:

* **known token**: every request carries a token the process has verified before, which
  the kit's verified-token cache answers (the steady state: a client reuses its token for
  its ten minutes). This is the route's cost with no JWT verification, plus one dict look-up;
* **new token**: every request carries a token the process has never seen (wrk sends each
  one once), so the kit checks its RS256 signature against the cached JWKS key and its
  claims: the most verification can cost a request once the keys are cached;
* the same two, alternating one request of each, sequentially (``--pairs``), so drift in
  the machine's load hits both alike: the median difference is the verification's cost;
* the ceiling, in process: ``TokenVerifier.verify`` alone, on a known token and on new
  ones, with the keys cached.

Load generator and servers share this machine's cores, so compare rows of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

import httpx  # noqa: E402
from benchlib import percentile, run_wrk, wrk_figures  # noqa: E402

from deepiri_kit.auth import JWKSCache, TokenVerifier  # noqa: E402
from infra import FerretDBServer, RedisServer, free_port  # noqa: E402
from support.processes import ServiceProcess, harness_env  # noqa: E402
from support.tokens import AUDIENCE, ISSUER, TokenIssuer  # noqa: E402

DB = "bench_auth"
USER = "user-1"
SCOPES = "tasks:read tasks:write"
KNOWN = 20  # tokens wrk cycles through on the known-token rows


def mint(issuer: TokenIssuer, count: int) -> list[str]:
    """``count`` distinct tokens (each its own jti) of the one user."""
    return [issuer.token(USER, SCOPES, lifetime=3600) for _ in range(count)]


async def seed(url: str, token: str) -> str:
    """The user's task, made through the API; its path."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        response = await http.post(
            "/api/tasks",
            json={"title": "Write the benchmark", "priority": "normal", "tags": ["bench"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        return f"/api/tasks/{response.json()['id']}"


async def paired(
    url: str, path: str, known: list[str], new: list[str]
) -> tuple[list[float], list[float]]:
    """One request with a known token, one with a new token, alternately, one at a time."""
    known_ms: list[float] = []
    new_ms: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for i, fresh in enumerate(new):
            timings = []
            for token in (known[i % len(known)], fresh):
                start = time.perf_counter()
                response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
                timings.append(time.perf_counter() - start)
                response.raise_for_status()
            if i >= 10:  # the first few warm both paths up
                known_ms.append(timings[0])
                new_ms.append(timings[1])
    return known_ms, new_ms


async def verify_alone(jwks_url: str, known: str, new: list[str]) -> tuple[float, float]:
    """Microseconds per ``TokenVerifier.verify``: a known token, and new tokens (signature)."""
    async with httpx.AsyncClient() as http:
        verifier = TokenVerifier(
            JWKSCache(jwks_url, http), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]
        )
        await verifier.verify(known)  # fetches the keys; from here on they are cached
        rounds = 20_000
        start = time.perf_counter()
        for _ in range(rounds):
            await verifier.verify(known)
        cached_us = (time.perf_counter() - start) / rounds * 1e6
        start = time.perf_counter()
        for token in new:
            await verifier.verify(token)
        signature_us = (time.perf_counter() - start) / len(new) * 1e6
    return cached_us, signature_us


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--conns", type=int, default=4, help="connections for the busy rows")
    parser.add_argument("--pairs", type=int, default=300, help="alternating sequential pairs")
    parser.add_argument(
        "--new-tokens", type=int, default=4000, help="distinct tokens per wrk run with new tokens"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: run `make tools` (tools/bootstrap.sh installs it)", file=sys.stderr)
        return 1

    root = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    redis_server, mongo_server = RedisServer(root), FerretDBServer(root)
    issuer = TokenIssuer()
    service: ServiceProcess | None = None
    load_before = os.getloadavg()
    try:
        redis_server.start()
        mongo_server.start()
        env = {
            **harness_env(redis_server, mongo_server, issuer, DB),
            "WEB_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
            "OTEL_TRACES_EXPORTER": "none",
            # The limiter still runs (one Redis script per request) but never refuses.
            "RATE_LIMIT_PER_MINUTE": "100000000",
            "RATE_LIMIT_BURST": "1000000",
        }
        service = ServiceProcess("task-service", free_port(), env, root).start()
        started = time.perf_counter()
        known = mint(issuer, KNOWN)
        runs = {conns: mint(issuer, args.new_tokens) for conns in (1, args.conns)}
        pair_tokens = mint(issuer, args.pairs)
        alone_tokens = mint(issuer, 2000)
        print(
            f"minted {KNOWN + args.new_tokens * 2 + args.pairs + 2000} RS256 tokens in "
            f"{time.perf_counter() - started:.1f}s"
        )
        path = asyncio.run(seed(service.url, known[0]))
        run_wrk(service.url, known, "GET", path, None, 1, 2)  # warm-up: keys, pools, caches

        rows: list[tuple[str, int, dict[str, float], int]] = []
        for conns in (1, args.conns):
            result = run_wrk(service.url, known, "GET", path, None, conns, args.seconds)
            rows.append(("known token (verified-token cache)", conns, wrk_figures(result), 0))
            result = run_wrk(
                service.url, runs[conns], "GET", path, None, conns, args.seconds, sequential=True
            )
            repeats = max(0, result["requests"] - len(runs[conns]))
            rows.append(
                ("new token (RS256 signature, keys cached)", conns, wrk_figures(result), repeats)
            )
        known_ms, new_ms = asyncio.run(paired(service.url, path, known, pair_tokens))
        cached_us, signature_us = asyncio.run(verify_alone(issuer.jwks_url, known[0], alone_tokens))
        fetches = issuer.jwks_requests

        print(
            f"\n| {'GET /api/tasks/{id}':58} | conns | {'req/s':>6} | {'p50 ms':>6} | {'p99 ms':>6} |"
        )
        print(f"|{'-' * 60}|-------|--------|--------|--------|")
        for what, conns, figures, repeats in rows:
            note = f" ({repeats} repeats)" if repeats else ""
            print(
                f"| {what + note:58} | {conns:5} | {figures['req_s']:6.0f} | "
                f"{figures['p50_ms']:6.2f} | {figures['p99_ms']:6.2f} |"
            )
        differences = sorted(n - k for n, k in zip(new_ms, known_ms, strict=True))
        print(
            f"\npaired, sequential ({len(known_ms)} pairs): known token p50 "
            f"{percentile(known_ms, 50):.2f} ms, new token p50 {percentile(new_ms, 50):.2f} ms; "
            f"median difference {statistics.median(differences) * 1000:.2f} ms"
        )
        print(
            f"in process, keys cached: TokenVerifier.verify {cached_us:.1f} µs on a known token, "
            f"{signature_us:.0f} µs on a new one (RS256 2048-bit signature and claims)"
        )
        by = {(what.split()[0], conns): f for what, conns, f, _ in rows}
        for conns in (1, args.conns):
            busy = by[("known", conns)]["req_s"]
            print(
                f"{conns} conn(s): a new token on every request costs "
                f"{(1 - by[('new', conns)]['req_s'] / busy) * 100:.0f}% of throughput; the "
                f"in-process ceiling says {signature_us * busy / 1e6 * 100:.0f}% "
                f"(signature µs x requests/s of one worker), a known token "
                f"{cached_us * busy / 1e6 * 100:.2f}%"
            )
        print(f"JWKS fetched {fetches} time(s) by task-service and the in-process verifier")
        load_after = os.getloadavg()
        print(
            f"machine: {os.cpu_count()} cores shared by wrk, the service, FerretDB and Redis; "
            f"1-min load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
        )
        return 0
    finally:
        if service is not None:
            service.stop()
        mongo_server.stop()
        redis_server.stop()
        issuer.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
