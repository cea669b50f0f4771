"""NetworkPolicies enforced for real: kube-router (built from its Go module) turns the
chart's policies into iptables rules on the node. A pod that does not declare it calls
task-service is refused; one that does (label deepiri.io/calls-task-service) is admitted;
the Ingress controller still reaches every public route, and the whole flow still works."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.helpers import NAMESPACE, RELEASE, Release, apply, eventually, kube_json, kubectl, run

pytestmark = [pytest.mark.e2e]
MANIFEST = Path(__file__).resolve().parents[2] / "k8s" / "cluster" / "kube-router.yaml"


def probe_pod(name: str, labels: dict[str, str], url: str) -> dict[str, Any]:
    script = (
        "import sys, urllib.request as u\n"
        f"try:\n    r = u.urlopen({url!r}, timeout=3); print('reached', r.status)\n"
        "except Exception as e:\n    print('refused', type(e).__name__, e); sys.exit(3)\n"
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsUser": 10001,
                "runAsNonRoot": True,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": os.environ["DEEPIRI_E2E_BASE_IMAGE"],
                    "command": ["python3", "-c", script],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def outcome(name: str, labels: dict[str, str], url: str) -> str:
    kubectl("delete", "pod", name, "--ignore-not-found", "--wait=true")
    apply(probe_pod(name, labels, url))
    phase = eventually(
        lambda: (
            kube_json(f"pod/{name}")["status"].get("phase") in ("Succeeded", "Failed")
            and kube_json(f"pod/{name}")["status"]["phase"]
        ),
        timeout=90,
        what=f"probe {name}",
    )
    logs = kubectl("logs", name).stdout.strip()
    kubectl("delete", "pod", name, "--wait=false")
    return f"{phase}: {logs}"


@pytest.fixture(scope="module")
def enforced(release: Release) -> None:
    image = os.environ["DEEPIRI_E2E_KUBE_ROUTER_IMAGE"]
    run(
        "kubectl",
        "apply",
        "-f",
        "-",
        stdin=MANIFEST.read_text().replace("@KUBE_ROUTER_IMAGE@", image),
    )
    run(
        "kubectl",
        "-n",
        "kube-system",
        "rollout",
        "status",
        "daemonset/kube-router",
        "--timeout=180s",
    )


def test_an_undeclared_caller_is_refused_and_a_declared_one_admitted(enforced: None) -> None:
    url = "http://task-service:5002/health"
    # Without enforcement both would reach it: prove the policy, not a broken network.
    admitted = eventually(
        lambda: (
            (
                o := outcome("np-declared", {"deepiri.io/calls-task-service": "true"}, url)
            ).startswith("Succeeded")
            and o
        ),
        timeout=120,
        interval=2,
        what="the declared caller admitted",
    )
    assert "reached 200" in admitted
    refused = eventually(
        lambda: (
            (o := outcome("np-undeclared", {"e2e": "stranger"}, url)).startswith("Failed") and o
        ),
        timeout=120,
        interval=2,
        what="the undeclared caller refused",
    )
    assert "refused" in refused


def test_a_datastore_admits_only_the_services_that_declare_it(enforced: None) -> None:
    url = "http://deepiri-influxdb:8086/health"  # neither service declares influx
    refused = outcome("np-influx", {"deepiri.io/calls-task-service": "true"}, url)
    assert refused.startswith("Failed"), refused
    assert "refused" in refused, refused


def test_the_flow_and_helm_test_pass_under_enforced_policies(
    enforced: None, release: Release
) -> None:
    user = f"np-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=release.ingress, headers=release.headers(user), timeout=15) as api:
        created = api.post("/api/tasks", json={"title": "behind policies"})
        assert created.status_code == 201, created.text
        done = api.post(f"/api/tasks/{created.json()['id']}/complete", json={})
        assert done.status_code == 200, done.text
        eventually(
            lambda: api.get("/api/gamification/wallet").json()["balances"]["xp"] > 0,
            timeout=60,
            what="the credit (task-service → Redis → gamification-service)",
        )
    result = release.helm("test", RELEASE, "--timeout", "5m", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    print(
        json.dumps(
            {"policies": [p["metadata"]["name"] for p in kube_json("networkpolicies")["items"]]}
        )
    )
