#!/usr/bin/env python3
"""``make dev``: the datastores plus every service under services/, each on its seed port,
with logs prefixed by process name. Ctrl-C stops everything.

Services come from tools/known_services.py (services/<name>-service → ``python -m
<name>_service``), so a new service joins the dev loop by existing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from honcho.manager import Manager

from known_services import services

ROOT = Path(__file__).resolve().parent.parent
DEV_ENV = {
    "DEEPIRI_ENV": "development",
    "MONGO_URI": "mongodb://127.0.0.1:27017/",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "INFLUXDB_URL": "http://127.0.0.1:8086",
    # Local processes reach each other on loopback instead of Kubernetes Service names.
    "JWKS_URL": "http://127.0.0.1:5001/api/users/oauth/jwks",
    "JWT_ISSUER": "http://127.0.0.1:5001/api/users",
    "PYAGENT_URL": "http://127.0.0.1:8000",
    "PYTHONUNBUFFERED": "1",
}


def main() -> int:
    python = sys.executable
    env = {**os.environ, **DEV_ENV}
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
