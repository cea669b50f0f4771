"""Services as real processes: the one place that says how a service is started.

The same command is every image's ``CMD`` (tests/chart checks that), so what the system
tests run is what a cluster runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from infra import forget_group, free_port, reap_group_with_us

ROOT = Path(__file__).resolve().parents[2]


def module_of(service: str) -> str:
    """services/task-service → task_service."""
    return service.replace("-", "_")


def harness_env(redis: Any, mongo: Any, issuer: Any, db: str) -> dict[str, str]:
    """Environment for a service process that uses the harness's Redis and MongoDB servers,
    database ``db`` and the test token issuer (tests/support/tokens.py)."""
    from support.tokens import AUDIENCE, ISSUER

    return {
        **redis.env(),
        **mongo.env(),
        "MONGO_DB": db,
        "JWKS_URL": issuer.jwks_url,
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "OTEL_TRACES_EXPORTER": "none",
    }


def start_command(service: str) -> list[str]:
    """The container command, with ``python`` being the image's interpreter."""
    return ["python", "-m", module_of(service)]


class ServiceProcess:
    def __init__(self, service: str, port: int, env: Mapping[str, str], log_dir: Path) -> None:
        self.service = service
        self.port = port
        # Rate limits off unless a test asks for them: tests outpace any person.
        defaults = {"RATE_LIMIT_PER_MINUTE": "0"}
        self.env = {**os.environ, **defaults, **env, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
        self.log_path = log_dir / f"{service}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, headers: Mapping[str, str] | None = None, timeout: float = 30) -> httpx.Client:
        """A blocking HTTP client of this process (``headers`` on every request)."""
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def start(self, timeout: float = 120.0) -> ServiceProcess:
        # Generous: two workers importing the app on a busy 2-core machine can take 30 s+.
        command = [sys.executable, *start_command(self.service)[1:]]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            # Its own process group, killed with its uvicorn workers if the test run dies.
            start_new_session=True,
        )
        reap_group_with_us(self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.service} exited ({self.proc.returncode}):\n{self.logs()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{self.service} not ready after {timeout}s:\n{self.logs()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        forget_group(self.proc.pid)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class ServiceProcesses:
    """Starts services as real processes on the harness's servers (or a test's own) and
    stops every one it started: what the ``service_process`` and ``services`` fixtures hand
    a test. ``trust``: variables every process gets (``JWT_ISSUER`` and ``JWKS_URL`` of the
    real user-service, see support/accounts.py); without it, the test issuer's."""

    def __init__(
        self,
        log_dir: Path,
        servers: Any,
        issuer: Any,
        db: str,
        trust: Mapping[str, str] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.servers = servers  # support.servers.OwnServers: .redis, .mongo, .influx
        self.issuer = issuer
        self.db = db
        self.trust = dict(trust or {})
        self.started: list[ServiceProcess] = []

    def __call__(
        self,
        service: str,
        *,
        workers: int = 1,
        redis: Any = None,
        mongo: Any = None,
        influx: bool = False,
        db: str | None = None,
        port: int | None = None,
        **env: str,
    ) -> ServiceProcess:
        """``service`` started with ``workers`` uvicorn workers (two is how a pod runs it) and
        its own database (``<test db>_<module>`` unless ``db`` names one: processes of the
        same service share theirs, as pods do), on the harness's servers unless ``redis`` or
        ``mongo`` are a test's own, with InfluxDB if ``influx`` (always for user-service), on ``port`` (a free one unless
        given: user-service must know its own URL, its issuer, before it starts); ``env`` adds
        or overrides variables."""
        environment = {
            **harness_env(
                redis or self.servers.redis,
                mongo or self.servers.mongo,
                self.issuer,
                db or f"{self.db}_{module_of(service)}",
            ),
            # user-service always records activity in InfluxDB.
            **(self.servers.influx.env() if influx or service == "user-service" else {}),
            **self.trust,
            # Consumers notice new events within 0.1 s (the default blocks for a second).
            "CONSUMER_BLOCK_MS": "100",
            "WEB_CONCURRENCY": str(workers),
            **env,
        }
        process = ServiceProcess(service, port or free_port(), environment, self.log_dir)
        self.started.append(process)
        return process.start()

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.proc is not None and process.proc.poll() is None:
                process.proc.send_signal(signal.SIGCONT)  # a test may have paused it
            process.stop()
