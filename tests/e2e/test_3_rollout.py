"""Changes under traffic: `helm upgrade` with a changed value rolls every service out while
clients keep calling through the Ingress — not one failed request (readiness probes and
maxUnavailable: 0); `helm rollback` puts the old value back the same way; deleting a pod
under write load loses no write the API accepted."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from e2e.helpers import RELEASE, Release, eventually, kube_json, kubectl
from e2e.load import Load, Writer, status

pytestmark = [pytest.mark.e2e]
SERVICES = ("task-service", "gamification-service")


def reader(release: Release) -> Callable[[httpx.Client, int], str]:
    # Many callers, so per-caller rate limits never throttle the load itself.
    def call(client: httpx.Client, worker: int) -> str:
        path = "/api/tasks" if worker % 2 == 0 else "/api/gamification/wallet"
        return status(client.get(path, headers=release.headers(f"poller-{random.randrange(50)}")))

    return call


def pods(service: str) -> set[str]:
    items = kube_json(
        "pods", "-l", f"app.kubernetes.io/name={service},app.kubernetes.io/instance={RELEASE}"
    )["items"]
    return {p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp")}


def log_level(service: str) -> str:
    return str(kube_json(f"configmap/{service}-config")["data"]["LOG_LEVEL"])


def test_upgrade_and_rollback_roll_out_without_a_failed_request(release: Release) -> None:
    before = {s: pods(s) for s in SERVICES}
    old_level = log_level("task-service")
    new_level = "WARNING" if old_level != "WARNING" else "INFO"
    revision = release.revision()
    with Load(release.ingress, reader(release), threads=4, pause=0.02) as load:
        time.sleep(3)
        release.upgrade(*(f"{s}.logLevel={new_level}" for s in SERVICES))
        time.sleep(3)
    assert load.ok > 50, load.outcomes
    assert load.failed == 0, (load.outcomes, load.failures)
    for s in SERVICES:
        assert log_level(s) == new_level
        assert not pods(s) & before[s], f"{s} was not rolled out"

    rolled = {s: pods(s) for s in SERVICES}
    with Load(release.ingress, reader(release), threads=4, pause=0.02) as load:
        time.sleep(3)
        release.helm("rollback", RELEASE, str(revision), "--wait", "--timeout", "10m")
        time.sleep(3)
    assert load.ok > 50, load.outcomes
    assert load.failed == 0, (load.outcomes, load.failures)
    for s in SERVICES:
        assert log_level(s) == old_level
        assert not pods(s) & rolled[s], f"{s} was not rolled back"


def test_deleting_a_pod_under_write_load_loses_no_accepted_write(release: Release) -> None:
    writer = Writer(release.headers)
    with Load(release.ingress, writer, threads=4) as load:
        eventually(lambda: len(writer.accepted) >= 20, timeout=60, what="first writes")
        victims = pods("task-service")
        kubectl("delete", "pod", *victims, "--wait=false")
        eventually(lambda: pods("task-service") - victims, timeout=120, what="a replacement pod")
        kubectl("rollout", "status", "deployment/task-service", "--timeout=180s")
        accepted_after = len(writer.accepted)
        eventually(
            lambda: len(writer.accepted) >= accepted_after + 20,
            timeout=120,
            what="writes after the loss",
        )
    assert load.ok >= 40, load.outcomes
    # Every write that was answered 201 is there, whoever served it.
    missing = []
    with httpx.Client(base_url=release.ingress, timeout=10) as client:
        for task_id, (user, title) in writer.accepted.items():
            r = client.get(f"/api/tasks/{task_id}", headers=release.headers(user))
            if r.status_code != 200 or r.json()["title"] != title:
                missing.append((task_id, r.status_code))
    assert not missing, (
        f"{len(missing)} of {len(writer.accepted)} accepted writes lost: {missing[:5]}"
    )
    print(f"pod loss: {load.outcomes} ({len(writer.accepted)} accepted, all readable)")


def test_a_replayed_write_after_a_pod_loss_is_not_applied_twice(release: Release) -> None:
    key = uuid.uuid4().hex
    headers = {**release.headers("replayer"), "Idempotency-Key": key}
    with httpx.Client(base_url=release.ingress, timeout=10) as client:
        first = client.post("/api/tasks", json={"title": f"once {key}"}, headers=headers)
        assert first.status_code == 201, first.text
        kubectl("delete", "pod", *pods("task-service"), "--wait=false")
        kubectl("rollout", "status", "deployment/task-service", "--timeout=180s")

        def replay() -> httpx.Response | None:
            r = client.post("/api/tasks", json={"title": f"once {key}"}, headers=headers)
            return r if r.status_code == 201 else None

        again = eventually(replay, timeout=120, what="the replay")
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json()["id"] == first.json()["id"]
