"""The chart's CPU/memory numbers come from measurements: each packaged service runs as a real
process (the image's command, the chart's WEB_CONCURRENCY range) against the harness's Redis
and FerretDB, takes a burst of real requests, and its resident memory must sit well inside
the chart's request and limit. The same run checks that the metrics the dashboards and alerts
query are the ones the running service exports."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from support.charts import by_name, helm_template, load_docs
from support.processes import ServiceProcess, ServiceProcesses
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.chart, pytest.mark.system, pytest.mark.slow]
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def quantity(value: str) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", value)
    assert match, value
    return int(match.group(1)) * UNITS[match.group(2)]


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (uvicorn workers)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(rss.group(1)) * 1024 if rss else 0
        todo += [int(c) for c in children]
    return total


@pytest.fixture
def running(request: pytest.FixtureRequest, service_process: ServiceProcesses) -> ServiceProcess:
    service, workers = request.param
    return service_process(service, workers=workers)


@pytest.mark.parametrize(
    "running",
    [("task-service", 1), ("task-service", 2)],
    indirect=True,
    ids=["task-service-1-worker", "task-service-2-workers"],
)
def test_memory_fits_the_chart(
    running: ServiceProcess, issuer: TokenIssuer, record_property
) -> None:
    headers = issuer.headers("sizer", "tasks:read tasks:write")
    with httpx.Client(base_url=running.url, timeout=10) as client:
        for i in range(200):
            created = client.post("/api/tasks", json={"title": f"task {i}"}, headers=headers)
            assert created.status_code == 201, created.text
            assert (
                client.get(f"/api/tasks/{created.json()['id']}", headers=headers).status_code == 200
            )
        client.get("/api/tasks/schema/openapi.json").raise_for_status()
        metrics = client.get("/metrics").text
    assert running.proc is not None
    rss = tree_rss(running.proc.pid)
    docs = load_docs(helm_template(["values-kind.yaml"]).stdout)
    resources = by_name(docs, "Deployment")[running.service]["spec"]["template"]["spec"][
        "containers"
    ][0]["resources"]
    request_bytes, limit_bytes = (
        quantity(resources["requests"]["memory"]),
        quantity(resources["limits"]["memory"]),
    )
    record_property("rss_mib", round(rss / 2**20, 1))
    print(
        f"\n{running.service} ({running.env['WEB_CONCURRENCY']} worker(s)) after 400 requests: "
        f"{rss / 2**20:.1f} MiB resident; chart request {resources['requests']['memory']}, "
        f"limit {resources['limits']['memory']}"
    )
    workers = int(running.env["WEB_CONCURRENCY"])
    if workers == 1:
        assert rss < request_bytes, "one worker must fit in the memory request"
    assert rss < limit_bytes * 0.7, "the limit leaves at least 30% headroom"
    # What the dashboards and alerts query, the running service exports.
    for family in (
        "http_server_requests_total",
        "http_server_request_duration_seconds_bucket",
        "http_server_requests_in_flight",
        "deepiri_events_published_total",
        "deepiri_outbox_relayed_total",
    ):
        assert re.search(rf"^{family}(\{{| )", metrics, re.M), f"{family} not exported"
    assert 'route="/api/tasks/{task_id}"' in metrics, "route templates, not raw paths"
