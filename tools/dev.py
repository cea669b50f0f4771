#!/usr/bin/env python3
"""``make dev``: the datastores plus every service under services/, each on its seed port,
with logs prefixed by process name. Ctrl-C stops everything.

Services come from tools/known_services.py (services/<name>-service → ``python -m
<name>_service``), so a new service joins the dev loop by existing.

Everyone signs in with the real user-service: it is the issuer of its own loopback URL
(port and prefix from the chart's values, the one place that lists them), and every other
service verifies its tokens against its JWKS. Its development defaults seed the first-party
clients (``deepiri-web``: code flow with PKCE; ``deepiri-cli``: the device grant, which
``deepiri login`` uses) and show mail links at /api/users/dev/mailbox.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml
from honcho.manager import Manager

from known_services import services

ROOT = Path(__file__).resolve().parent.parent
DEV_ENV = {
    "DEEPIRI_ENV": "development",
    "MONGO_URI": "mongodb://127.0.0.1:27017/",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "INFLUXDB_URL": "http://127.0.0.1:8086",
    "PYAGENT_URL": "http://127.0.0.1:8000",
    "PYTHONUNBUFFERED": "1",
}


def issuer() -> str:
    """user-service's URL on loopback: the issuer of every token in development."""
    values = yaml.safe_load((ROOT / "charts" / "deepiri" / "values.yaml").read_text())
    users = values["user-service"]
    return f"http://127.0.0.1:{users['port']}{users['prefix']}"


def environment() -> dict[str, str]:
    """What every process gets (on top of the caller's environment)."""
    # Local processes reach each other on loopback instead of Kubernetes Service names.
    return {**DEV_ENV, "JWT_ISSUER": issuer(), "JWKS_URL": f"{issuer()}/oauth/jwks"}


def main() -> int:
    python = sys.executable
    env = {**os.environ, **environment()}
    print(
        f"sign in: deepiri login  (issuer {issuer()}; mail links at {issuer()}/dev/mailbox?email=…)"
    )
    manager = Manager()
    manager.add_process(
        "infra", f"{python} {ROOT / 'tools' / 'infra.py'} --data {ROOT / '.tmp' / 'infra'}", env=env
    )
    for service in services():
        manager.add_process(service.name, f"{python} -m {service.module}", env=env)
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
