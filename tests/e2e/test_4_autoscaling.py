"""The HPA (autoscaling/v2 on CPU, metrics from metrics-server) scales task-service out under
generated load and back in when it stops; readiness keeps traffic off pods that are not
ready yet, so scaling out fails no request."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from e2e.helpers import Release, eventually, kube_json, run
from e2e.load import Load, status

pytestmark = [pytest.mark.e2e]


def hpa() -> Any:
    return kube_json("hpa/task-service")


def ready_replicas() -> int:
    return int(kube_json("deployment/task-service")["status"].get("readyReplicas", 0))


def lister(release: Release) -> Callable[[httpx.Client, int], str]:
    def call(client: httpx.Client, worker: int) -> str:
        # Many callers, so per-caller rate limits never throttle the load itself.
        headers = release.headers(f"hpa-{random.randrange(200)}")
        return status(client.get("/api/tasks", params={"limit": 50}, headers=headers))

    return call


def test_metrics_api_serves_pod_metrics(release: Release) -> None:
    def metrics() -> Any:
        out = run(
            "kubectl",
            "get",
            "--raw",
            "/apis/metrics.k8s.io/v1beta1/namespaces/deepiri-e2e/pods",
            check=False,
        )
        return out.returncode == 0 and '"task-service-' in out.stdout

    eventually(metrics, timeout=120, interval=3, what="pod metrics from metrics-server")


def test_hpa_scales_out_under_load_and_back_in(release: Release) -> None:
    eventually(
        lambda: hpa()["status"].get("currentMetrics"), timeout=120, interval=3, what="HPA metrics"
    )
    eventually(
        lambda: hpa()["status"]["currentReplicas"] == 1,
        timeout=300,
        interval=5,
        what="one replica at rest",
    )
    with Load(release.ingress, lister(release), threads=6) as load:
        eventually(
            lambda: hpa()["status"].get("desiredReplicas", 1) >= 2,
            timeout=240,
            interval=3,
            what="scale out",
        )
        eventually(
            lambda: ready_replicas() >= 2, timeout=180, interval=2, what="the new pods ready"
        )
        time.sleep(10)  # traffic now spread over the new pods too
    out = hpa()["status"]
    print(f"scaled out to {out['currentReplicas']} under load: {load.outcomes}")
    assert load.ok > 100, load.outcomes
    assert load.failed == 0, (load.outcomes, load.failures)
    eventually(
        lambda: hpa()["status"]["desiredReplicas"] == 1, timeout=420, interval=5, what="scale in"
    )
    eventually(lambda: ready_replicas() == 1, timeout=120, interval=2, what="one pod left")
