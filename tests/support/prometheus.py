"""A real Prometheus server (Debian's ``prometheus`` package, which tools/bootstrap.sh
installs with promtool) scraping services that run as processes, and the dashboards'
queries as Grafana would send them.

Each service is its own scrape job named after it, as the chart's relabelling names pods by
``app.kubernetes.io/name`` — so the dashboards' ``job`` variable means the same here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from infra import Server, find_binary

SCRAPE_SECONDS = 1
ALL = ".*"  # the dashboards' allValue for $job


class PrometheusServer(Server):
    name = "prometheus"

    def __init__(self, root: Path, targets: Mapping[str, str]) -> None:
        """``targets``: job name → ``host:port`` serving ``/metrics``."""
        super().__init__(root)
        self.targets = dict(targets)
        self.started_at = time.monotonic()

    def after_start(self) -> None:
        self.started_at = time.monotonic()

    def rate_interval(self) -> str:
        """A range covering every scrape so far: Grafana's ``$__rate_interval`` is at least
        four scrapes; here it spans the whole test, however slowly a busy machine ran it."""
        return f"{int(time.monotonic() - self.started_at) + 4 * SCRAPE_SECONDS}s"

    def command(self) -> list[str]:
        config = self.root / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {
                        "scrape_interval": f"{SCRAPE_SECONDS}s",
                        "scrape_timeout": f"{SCRAPE_SECONDS}s",
                    },
                    "scrape_configs": [
                        {"job_name": job, "static_configs": [{"targets": [target]}]}
                        for job, target in self.targets.items()
                    ],
                }
            )
        )
        return [
            find_binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: Any) -> Any:
        answer = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query now: the result vector."""
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", data
        found: list[dict[str, Any]] = data["result"]
        return found

    def targets_up(self) -> dict[str, bool]:
        active = self.api("targets")["activeTargets"]
        return {t["labels"]["job"]: t["health"] == "up" for t in active}

    def wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        seen: dict[str, bool] = {}
        while time.monotonic() < deadline:
            seen = self.targets_up()
            if set(seen) == set(self.targets) and all(seen.values()):
                return
            time.sleep(0.5)
        raise AssertionError(f"targets not all up after {timeout}s: {seen}")


def finite(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The series whose value is a number (not NaN or infinite)."""
    return [s for s in series if math.isfinite(float(s["value"][1]))]


def panel_queries(dashboard: Path) -> list[tuple[str, str, str]]:
    """``(panel title, refId, expr)`` of every panel query of a Grafana dashboard file."""
    found = []
    for panel in json.loads(dashboard.read_text())["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["refId"], target["expr"]))
    return found


def substitute(expr: str, rate_interval: str, job: str = ALL) -> str:
    """The query Grafana sends: its variables replaced (``$job`` = All unless given)."""
    return expr.replace("$__rate_interval", rate_interval).replace("$job", job)
