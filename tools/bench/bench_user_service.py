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

Starts its own Redis and FerretDB and user-service as a real process with one uvicorn
worker (benchlib.Stack). Load generator and servers share the machine's cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

import httpx  # noqa: E402
from argon2 import PasswordHasher, Type  # noqa: E402
from benchlib import Stack, print_table, run_wrk, wrk_figures  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import RSAKey  # noqa: E402

from infra import free_port  # noqa: E402
from user_service.settings import UserSettings  # noqa: E402

PASSWORD = "correct horse battery staple"  # noqa: S105 - the benchmark's own account
SECRET = "bench-service-secret-0123456789"  # noqa: S105
PARAMS = UserSettings.__dataclass_fields__
TIME_COST = PARAMS["argon2_time_cost"].default
MEMORY_KIB = PARAMS["argon2_memory_kib"].default
LANES = PARAMS["argon2_parallelism"].default


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

    clients = [
        {
            "client_id": "svc",
            "name": "bench",
            "secret": SECRET,
            "grant_types": ["client_credentials"],
            "scope": "tasks:read",
        }
    ]
    with Stack("users") as stack:
        port = free_port()
        own = f"http://127.0.0.1:{port}/api/users"
        env = {
            "JWT_ISSUER": own,
            "JWKS_URL": f"{own}/oauth/jwks",
            "OAUTH_CLIENTS": json.dumps(clients),
            "MAX_CONCURRENT_HASHES": "2",
        }
        service = stack.service("user-service", "bench_users", env, port=port)
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
                httpx.get(f"{service.url}/health", timeout=30)
                health.append((time.perf_counter() - start) * 1000)
                time.sleep(0.2)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        login = "/api/users/login"
        signed_in = run_wrk(
            service.url,
            [],
            "POST",
            login,
            form,
            args.conns,
            args.seconds,
            "60s",
            headers=login_headers,
        )
        stop.set()
        prober.join()
        rows = [(f"POST {login} (right password)", wrk_figures(signed_in))]
        health_note = (
            f"/health during the sign-in load: median {statistics.median(health):.1f} ms, "
            f"max {max(health):.1f} ms over {len(health)} probes"
        )

        basic = base64.b64encode(f"svc:{SECRET}".encode()).decode()
        token_headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {basic}",
        }
        grant = "grant_type=client_credentials&scope=tasks%3Aread"
        path = "/api/users/oauth/token"
        wrk = (service.url, [], "POST", path, grant, args.conns)
        run_wrk(*wrk, 2, "60s", headers=token_headers)  # warm-up
        issued = run_wrk(*wrk, args.seconds, "60s", headers=token_headers)
        rows.append((f"POST {path} (client credentials)", wrk_figures(issued)))
        print_table(f"user-service, {args.conns} connections, {args.seconds}s per row", rows, 50)
        print(health_note)


if __name__ == "__main__":
    main()
