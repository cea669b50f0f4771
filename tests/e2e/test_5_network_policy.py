"""NetworkPolicies enforced for real: kube-router (built from its Go module) turns the
chart's policies into iptables rules and ipsets on the node. A pod that does not declare it
calls task-service is refused; the same pod, once labelled deepiri.io/calls-task-service,
is admitted; a datastore admits only pods that declare they use it; the Ingress controller
still reaches every public route, and the whole flow — the credit, the socket's event, the
inbox, a challenge generated through ai-service and its progress — and `helm test` still
work.

The probes are long-lived pods the suite execs into: kube-router adds a new pod to the
policies' ipsets only when it next syncs, so a pod that tried once at start-up would race
that sync (the reason a declared caller was once "not admitted"). Relabelling one pod keeps
its address, so the label alone is what changes the outcome."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.helpers import RELEASE, Release, apply, eventually, kube_json, kubectl, probe_pod, run
from support.sockets import JsClient

pytestmark = [pytest.mark.e2e]
MANIFEST = Path(__file__).resolve().parents[2] / "k8s" / "cluster" / "kube-router.yaml"
TASK_SERVICE = "http://task-service:5002/health"
INFLUXDB = "http://deepiri-influxdb:8086/health"


def reach(pod: str, url: str) -> str:
    """One HTTP request from inside `pod`: 'reached <status>' or 'refused <why>'."""
    script = (
        "import urllib.request as u\n"
        f"try:\n    print('reached', u.urlopen({url!r}, timeout=3).status)\n"
        "except Exception as e:\n    print('refused', type(e).__name__, e)\n"
    )
    return kubectl("exec", pod, "--", "python3", "-c", script, timeout=60).stdout.strip()


def admitted(pod: str, url: str) -> str:
    return eventually(
        lambda: (o := reach(pod, url)).startswith("reached") and o,
        timeout=120,
        interval=2,
        what=f"{pod} admitted to {url}",
    )


def assert_refused(pod: str, url: str) -> None:
    outcomes = [reach(pod, url) for _ in range(3)]
    assert all(o.startswith("refused") for o in outcomes), outcomes


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


@pytest.fixture(scope="module")
def probes(enforced: None) -> Iterator[None]:
    """np-stranger declares nothing; np-caller declares it calls task-service."""
    apply(
        [
            probe_pod("np-stranger", {}),
            probe_pod("np-caller", {"deepiri.io/calls-task-service": "true"}),
        ]
    )
    kubectl("wait", "--for=condition=Ready", "pod", "-l", "e2e=probe", "--timeout=120s")
    yield
    kubectl("delete", "pod", "-l", "e2e=probe", "--wait=false")


def test_an_undeclared_caller_is_refused_and_a_declared_one_admitted(probes: None) -> None:
    # The declared caller getting through shows kube-router has synced both probe pods and
    # the network itself works; only then does the stranger's refusal mean the policy.
    assert "reached 200" in admitted("np-caller", TASK_SERVICE)
    assert_refused("np-stranger", TASK_SERVICE)
    kubectl("label", "pod", "np-stranger", "deepiri.io/calls-task-service=true")
    assert "reached 200" in admitted("np-stranger", TASK_SERVICE)


def test_a_datastore_admits_only_the_pods_that_declare_it(probes: None) -> None:
    # np-caller may call task-service but does not use InfluxDB (neither service does).
    admitted("np-caller", TASK_SERVICE)
    assert_refused("np-caller", INFLUXDB)
    kubectl("label", "pod", "np-caller", "deepiri.io/uses-influx=true")
    assert "reached 200" in admitted("np-caller", INFLUXDB)


def test_the_flow_and_helm_test_pass_under_enforced_policies(
    enforced: None, release: Release
) -> None:
    # Every connection the flow makes is new under enforcement: DNS (the chart admits port
    # 53 to kube-dns), Traefik → user-service (a person signs in), the JWKS from user-service
    # at its in-cluster address (the public issuer's NodePort is not among any service's
    # egress), Redis and FerretDB, Traefik → services (the socket's WebSocket upgrade too),
    # challenge-service → user-service for its agent:invoke token (at the in-cluster
    # address: the public issuer's token endpoint was refused here) and → ai-service.
    services = (
        "user-service",
        "task-service",
        "gamification-service",
        "challenge-service",
        "websocket-service",
        "notification-service",
    )
    kubectl("rollout", "restart", *(f"deployment/{d}" for d in services))
    for d in services:
        kubectl("rollout", "status", f"deployment/{d}", "--timeout=300s")
    person = release.person(f"np-{uuid.uuid4().hex[:8]}")
    socket = JsClient(release.ingress, {"token": person.token})
    try:
        socket.next("connect", timeout=180)
        with httpx.Client(base_url=release.ingress, headers=person.headers, timeout=60) as api:
            offer = api.post("/api/challenges/generate", json={"kind": "solo"})
            assert offer.status_code == 201, offer.text
            assert offer.json()["answered_by"] == "fallback"
            cid = offer.json()["id"]
            accepted = api.post(f"/api/challenges/{cid}/accept")
            assert accepted.status_code == 200, accepted.text
            created = api.post("/api/tasks", json={"title": "behind policies"})
            assert created.status_code == 201, created.text
            task_id = created.json()["id"]
            done = api.post(f"/api/tasks/{task_id}/complete", json={})
            assert done.status_code == 200, done.text
            eventually(
                lambda: api.get("/api/gamification/wallet").json()["balances"]["xp"] > 0,
                timeout=180,
                what="the credit (task-service → Redis → gamification-service)",
            )
            eventually(
                lambda: [
                    e for e in socket.received("task.completed") if e["data"]["task_id"] == task_id
                ],
                timeout=180,
                what="task.completed on the socket (Redis → websocket-service → Traefik)",
            )
            eventually(
                lambda: api.get("/api/notifications/inbox/unread-count").json()["unread"] > 0,
                timeout=180,
                what="a notification (Redis → notification-service)",
            )
            eventually(
                lambda: api.get(f"/api/challenges/{cid}").json()["players"][0]["progress"] == 1,
                timeout=180,
                what="the challenge's progress (Redis → challenge-service)",
            )
    finally:
        socket.close()
    result = release.helm("test", RELEASE, "--timeout", "5m", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    print(
        json.dumps(
            {"policies": [p["metadata"]["name"] for p in kube_json("networkpolicies")["items"]]}
        )
    )
