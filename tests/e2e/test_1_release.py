"""The chart installs on a real node under Pod Security "restricted", and `helm test` runs
real pods that reach every service by its cluster DNS name and every public route through
the Ingress — and fails when told to."""

from __future__ import annotations

import pytest

from e2e.helpers import NAMESPACE, RELEASE, Release, kube_json, kubectl, run

pytestmark = [pytest.mark.e2e]


def test_every_pod_runs_under_enforced_restricted_pod_security(release: Release) -> None:
    ns = kube_json(f"namespace/{NAMESPACE}")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # A server-side dry run of the label reports every running pod that would violate it.
    check = run(
        "kubectl",
        "label",
        "--dry-run=server",
        "--overwrite",
        f"namespace/{NAMESPACE}",
        "pod-security.kubernetes.io/enforce=restricted",
    )
    assert "violate" not in check.stderr, check.stderr
    pods = kube_json("pods", "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]
    names = {p["metadata"]["labels"].get("app.kubernetes.io/name") for p in pods}
    assert {
        "user-service",
        "task-service",
        "gamification-service",
        "mongodb",
        "redis",
        "influxdb",
    } <= names
    for pod in pods:
        if pod["metadata"]["labels"].get("app.kubernetes.io/component") == "helm-test":
            continue
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}.get("Ready")
        assert ready == "True", pod["metadata"]["name"]


def test_helm_test_passes(release: Release) -> None:
    result = release.helm("test", RELEASE, "--timeout", "5m", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # one /health pod per service and one pod for the public routes through the Ingress
    assert result.stdout.count("Phase:          Succeeded") >= 3, result.stdout
    assert "Phase:          Failed" not in result.stdout


def test_helm_test_fails_when_told_to(release: Release) -> None:
    release.upgrade("tests.fail=true")
    try:
        result = release.helm("test", RELEASE, "--timeout", "5m", check=False)
        assert result.returncode != 0, result.stdout
        assert "Failed" in result.stdout + result.stderr
    finally:
        release.upgrade("tests.fail=false")
    # The failed test pods stay for inspection until the next run; clear them.
    kubectl(
        "delete", "pods", "-l", "app.kubernetes.io/component=helm-test", "--wait=false", check=False
    )
