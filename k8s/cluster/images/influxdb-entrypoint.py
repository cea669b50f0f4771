#!/usr/bin/env python3
"""Stand-in for the influxdb image's entrypoint: runs influxd and, on first start with
DOCKER_INFLUXDB_INIT_MODE=setup, creates the org, bucket, user and operator token from the
same DOCKER_INFLUXDB_INIT_* variables (through influxd's own /api/v2/setup)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


def seconds(retention: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhdw])", retention or ""))


def main() -> int:
    env = os.environ
    env.setdefault("INFLUXD_BOLT_PATH", "/var/lib/influxdb2/influxd.bolt")
    env.setdefault("INFLUXD_ENGINE_PATH", "/var/lib/influxdb2/engine")
    proc = subprocess.Popen(["/usr/local/bin/influxd", *sys.argv[1:]])
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    port = env.get("INFLUXD_HTTP_BIND_ADDRESS", ":8086").rsplit(":", 1)[1]
    base = f"http://127.0.0.1:{port}"
    if env.get("DOCKER_INFLUXDB_INIT_MODE") == "setup":
        while proc.poll() is None:
            try:
                with urllib.request.urlopen(base + "/api/v2/setup", timeout=2) as r:
                    allowed = json.load(r)["allowed"]
                break
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        else:
            return proc.returncode or 1
        if allowed:
            body = {
                "username": env["DOCKER_INFLUXDB_INIT_USERNAME"],
                "password": env["DOCKER_INFLUXDB_INIT_PASSWORD"],
                "org": env["DOCKER_INFLUXDB_INIT_ORG"],
                "bucket": env["DOCKER_INFLUXDB_INIT_BUCKET"],
                "token": env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"],
                "retentionPeriodSeconds": seconds(env.get("DOCKER_INFLUXDB_INIT_RETENTION", "")),
            }
            req = urllib.request.Request(
                base + "/api/v2/setup",
                json.dumps(body).encode(),
                {"Content-Type": "application/json"},
            )
            urllib.request.urlopen(req, timeout=10).close()
            print("influxdb: initial setup done", flush=True)
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
