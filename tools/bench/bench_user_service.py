#!/usr/bin/env python3
"""user-service benchmark: Argon2id cost per hash, sign-in throughput under the hashing
cap, and the token endpoint (client credentials) — each against its ceiling, same run.

    .venv/bin/python tools/bench/bench_user_service.py [--seconds 10] [--conns 8]

* Argon2id (argon2-cffi, the service's parameters): ms per hash and per verification, one
  thread; then verifications per second with two threads — the most two cores can do, and
  so the ceiling for sign-ins.
* ``POST /api/users/login`` (the sign-in form, right password) with wrk: sign-ins per second
  and latency with ``MAX_CONCURRENT_HASHES=2``; hashes queue behind the cap instead of
  taking every core, so /health keeps answering — measured during the same load.
* ``POST /api/users/oauth/token`` (client credentials, HTTP Basic) with wrk: tokens per
  second, p50, p99; against joserfc's RS256 signatures per second (one thread).

Starts its own Redis and FerretDB (tools/infra.py) and user-service as a real
process with one uvicorn worker. Load generator and servers share the machine's cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

import httpx  # noqa: E402
from argon2 import PasswordHasher, Type  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import RSAKey  # noqa: E402

from infra import FerretDBServer, RedisServer, free_port  # noqa: E402
from support.processes import ServiceProcess, harness_env  # noqa: E402
from support.tokens import TokenIssuer  # noqa: E402
from user_service.settings import UserSettings  # noqa: E402

PASSWORD = "correct horse battery staple"  # noqa: S105 - the benchmark's own account
SECRET = "bench-service-secret-0123456789"  # noqa: S105
PARAMS = UserSettings.__dataclass_fields__
TIME_COST = PARAMS["argon2_time_cost"].default
MEMORY_KIB = PARAMS["argon2_memory_kib"].default
LANES = PARAMS["argon2_parallelism"].default

WRK_FORM = """
local body, headers = %(body)s, %(headers)s
request = function() return wrk.format("POST", "%(path)s", headers, body) end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests":%%d,"duration_us":%%d,"errors":%%d,"non2xx":%%d,"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_table(headers: dict[str, str]) -> str:
    return "{" + ",".join(f"[{json.dumps(k)}]={json.dumps(v)}" for k, v in headers.items()) + "}"


def wrk_post(
    url: str, path: str, body: str, headers: dict[str, str], conns: int, seconds: int
) -> dict[str, Any]:
    script = WRK_FORM % {"body": json.dumps(body), "headers": lua_table(headers), "path": path}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(conns, 2)}",
                f"-c{conns}",
                f"-d{seconds}s",
                "--timeout",
                "60s",
                "-s",
                handle.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 90,
        ).stdout
    finally:
        os.unlink(handle.name)
    result: dict[str, Any] = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    if result["errors"]:
        raise SystemExit(f"wrk saw errors on {path}: {result}\n{out}")
    return result


def figures(result: dict[str, Any]) -> str:
    rate = result["requests"] / (result["duration_us"] / 1e6)
    return (
        f"{rate:8.1f} req/s  p50 {result['p50_us'] / 1000:7.1f} ms  "
        f"p99 {result['p99_us'] / 1000:7.1f} ms  (non-2xx/3xx: {result['non2xx']})"
    )


def argon2_figures(count: int) -> float:
    hasher = PasswordHasher(
        time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=LANES, type=Type.ID
    )
    hashes, verifies = [], []
    stored = hasher.hash(PASSWORD)
    for _ in range(count):
        start = time.perf_counter()
        hasher.hash(PASSWORD)
        hashes.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        verifies.append((time.perf_counter() - start) * 1000)
    print(
        f"Argon2id m={MEMORY_KIB} KiB t={TIME_COST} p={LANES}: hash median "
        f"{statistics.median(hashes):.1f} ms (min {min(hashes):.1f}), verify median "
        f"{statistics.median(verifies):.1f} ms (min {min(verifies):.1f}); {count} each"
    )
    with ThreadPoolExecutor(2) as pool:
        start = time.perf_counter()
        list(pool.map(lambda _: hasher.verify(stored, PASSWORD), range(count * 2)))
        rate = count * 2 / (time.perf_counter() - start)
    print(f"ceiling: {rate:.1f} verifications/s with 2 threads")
    return rate


def rs256_ceiling(seconds: float = 3.0) -> None:
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256"}, private=True, auto_kid=True)
    claims = {"iss": "x", "sub": "svc", "aud": "deepiri", "scope": "tasks:read", "exp": 2**31}
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        jwt.encode({"alg": "RS256", "typ": "at+jwt"}, claims, key)
        count += 1
    print(f"ceiling: {count / seconds:.0f} RS256 access tokens signed/s (joserfc, one thread)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--hashes", type=int, default=20)
    args = parser.parse_args()

    argon2_figures(args.hashes)
    rs256_ceiling()

    root = Path(tempfile.mkdtemp(prefix="bench-users-"))
    servers = [RedisServer(root), FerretDBServer(root)]
    issuer = TokenIssuer()
    service: ServiceProcess | None = None
    try:
        for server in servers:
            server.start()
        redis_server, mongo_server = servers
        port = free_port()
        own = f"http://127.0.0.1:{port}/api/users"
        clients = [
            {
                "client_id": "svc",
                "name": "bench",
                "secret": SECRET,
                "grant_types": ["client_credentials"],
                "scope": "tasks:read",
            }
        ]
        env = {
            **harness_env(redis_server, mongo_server, issuer, "bench_users"),
            "JWT_ISSUER": own,
            "JWKS_URL": f"{own}/oauth/jwks",
            "OAUTH_CLIENTS": json.dumps(clients),
            "WEB_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
            "MAX_CONCURRENT_HASHES": "2",
        }
        service = ServiceProcess("user-service", port, env, root).start()
        base = f"{service.url}/api/users"
        body = {"email": "bench@example.com", "password": PASSWORD, "display_name": "Bench"}
        assert httpx.post(f"{base}/register", json=body).status_code == 202
        csrf = "bench-csrf-token-value"
        form = f"csrf={csrf}&email=bench%40example.com&password=correct+horse+battery+staple"
        login_headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"deepiri_csrf={csrf}",
        }

        health: list[float] = []
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                start = time.perf_counter()
                httpx.get(f"{service.url}/health", timeout=30)  # type: ignore[union-attr]
                health.append((time.perf_counter() - start) * 1000)
                time.sleep(0.2)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        login = wrk_post(
            service.url, "/api/users/login", form, login_headers, args.conns, args.seconds
        )
        stop.set()
        prober.join()
        print(f"POST /api/users/login (right password, {args.conns} conns): {figures(login)}")
        print(
            f"  /health during the sign-in load: median {statistics.median(health):.1f} ms, "
            f"max {max(health):.1f} ms over {len(health)} probes"
        )

        basic = base64.b64encode(f"svc:{SECRET}".encode()).decode()
        token_headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {basic}",
        }
        grant = "grant_type=client_credentials&scope=tasks%3Aread"
        wrk_post(service.url, "/api/users/oauth/token", grant, token_headers, args.conns, 2)
        token = wrk_post(
            service.url,
            "/api/users/oauth/token",
            grant,
            token_headers,
            args.conns,
            args.seconds,
        )
        print(
            f"POST /api/users/oauth/token (client credentials, {args.conns} conns): {figures(token)}"
        )
    finally:
        if service is not None:
            service.stop()
        for server in reversed(servers):
            server.stop()
        issuer.close()


if __name__ == "__main__":
    main()
