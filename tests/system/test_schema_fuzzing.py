"""Schema fuzzing: schemathesis drives each service, running as a real process on the
harness's datastores, from its own OpenAPI document, with every check on — server errors,
undocumented statuses and content types, responses that break their schema, schema-valid
requests refused, invalid ones accepted, auth ignored, resources that vanish or outlive
their deletion. The run must find nothing. Its token is a service's own, from the real
user-service (client credentials), so service-only and admin routes are reached too.

The default run (``pytest``, CI) is bounded and seeded: the same cases every run, so CI
cannot go red on an example nobody has seen, and a failure reproduces exactly (the output
names each case with a curl line). The service gets a Redis of its own (its database is
fresh anyway): no other test's events or leaderboards reach its answers, so two runs send
the same requests and get the same statuses. ``make fuzz`` goes deeper on a fresh seed
(``DEEPIRI_FUZZ_EXAMPLES``, ``DEEPIRI_FUZZ_SEED``; docs/development.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import RedisServer
from support.accounts import Accounts
from support.processes import ServiceProcesses

pytestmark = [pytest.mark.system, pytest.mark.fuzz, pytest.mark.slow]

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = "schemathesis_hooks"  # tests/system/schemathesis_hooks.py
MAX_EXAMPLES = int(os.environ.get("DEEPIRI_FUZZ_EXAMPLES", "25"))  # per operation and phase
SEED = os.environ.get("DEEPIRI_FUZZ_SEED", "20261130")  # "random": a fresh one, in the report

TARGETS = {
    "task-service": ("/api/tasks", "tasks:read tasks:write"),
    "gamification-service": (
        "/api/gamification",
        "gamification:read gamification:write gamification:admin ratings:write",
    ),
    "websocket-service": ("/socket.io", "users:read"),  # its HTTP API (presence)
    "notification-service": ("/api/notifications", "notifications:read notifications:write"),
    # Generating goes to a real ai-service (its fallback: no model endpoint) with the test
    # service client's agent:invoke token.
    "challenge-service": ("/api/challenges", "challenges:read challenges:write"),
    "ai-service": ("/api/agent", "agent:invoke"),
}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("service", list(TARGETS))
def test_schema_fuzzing_finds_no_failure(
    service: str,
    tmp_path: Path,
    own_redis: RedisServer,
    services: ServiceProcesses,
    accounts: Accounts,
) -> None:
    prefix, scopes = TARGETS[service]
    # gamification-service rebuilds friendships from user-service with its own client.
    env = accounts.service_client() if service == "gamification-service" else {}
    helpers = []
    if service == "challenge-service":
        agent = services("ai-service", redis=own_redis, USER_RATE_PER_MINUTE="0")
        helpers.append(agent)
        env = {"PYAGENT_URL": agent.url, **accounts.agent_client()}
    process = services(service, redis=own_redis, **env)
    # A client-credentials token from the real user-service (subject = client id), so
    # service-only routes are reached too.
    token = accounts.service_token(scopes)
    try:
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file",
                str(CONFIG),
                "run",
                f"{process.url}{prefix}/schema/openapi.json",
                "--checks",
                "all",
                # Soft-deleted tasks keep a readable history (see schemathesis.toml).
                "--exclude-checks",
                "use_after_free",
                "--max-examples",
                str(MAX_EXAMPLES),
                *([] if SEED == "random" else ["--seed", SEED]),
                "--generation-database",
                "none",
                # Hypothesis's "too slow" measures how busy the machine is while it generates
                # data, not the API: on a loaded CI machine it would fail a sound run.
                "--suppress-health-check",
                "too_slow",
                "--workers",
                "1",
                # /admin/reconcile replays up to 1000 ledgers in one request: slow on busy CI.
                "--request-timeout",
                "120",
                "--max-response-time",
                "120",
                "--no-color",
                "--header",
                f"Authorization: Bearer {token}",
            ],
            cwd=tmp_path,
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": HOOKS,
                "PYTHONPATH": str(Path(__file__).parent),
            },
            capture_output=True,
            text=True,
            timeout=600 * max(1, MAX_EXAMPLES // 25),
            check=False,
        )
    finally:
        process.stop()
        for helper in helpers:
            helper.stop()
    report = run.stdout + run.stderr
    print(report)  # the cases, phases and seed: shown by ``make fuzz`` (pytest -s)
    assert run.returncode == 0, (
        f"{report[-20000:]}\n--- {service} log ---\n{process.logs()[-5000:]}"
    )
    assert "No issues found" in report or " passed" in report, report[-3000:]
