"""`helm uninstall` removes the release and leaves only what the README says it keeps: the
generated datastore and identity credentials (helm.sh/resource-policy: keep) and the
datastores' PersistentVolumeClaims (Kubernetes keeps a StatefulSet's volumes) — and a
re-install finds its data again, and user-service its signing keys (sealed with the kept
key-encryption key): a token issued before the uninstall still works."""

from __future__ import annotations

import uuid

import httpx
import pytest

from e2e.helpers import NAMESPACE, RELEASE, Release, eventually, kube_json, kubectl, run

pytestmark = [pytest.mark.e2e]
E2E_OWN = {"deepiri-mongodb-local", "kube-root-ca.crt", "default"}


def test_uninstall_leaves_only_the_credentials_and_the_volumes(release: Release) -> None:
    person = release.person(f"uninstall-{uuid.uuid4().hex[:8]}")
    with httpx.Client(base_url=release.ingress, headers=person.headers, timeout=15) as api:
        created = api.post("/api/tasks", json={"title": "outlive the release"})
        assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    redis_password = kube_json("secret/deepiri-redis")["data"]
    identity = kube_json("secret/deepiri-identity-credentials")["data"]

    release.helm("uninstall", RELEASE, "--wait", "--timeout", "5m")
    kinds = "deployments,statefulsets,services,configmaps,secrets,serviceaccounts,networkpolicies,hpa,pdb,ingresses,pvc,roles,rolebindings,pods"

    def left() -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for item in kube_json(kinds)["items"]:
            if item["metadata"]["name"] in E2E_OWN:
                continue
            if item["kind"] == "Pod" and item["metadata"].get("deletionTimestamp"):
                continue
            out.setdefault(item["kind"], set()).add(item["metadata"]["name"])
        return out

    remaining = eventually(
        lambda: (lambda r: r if "Pod" not in r else None)(left()), timeout=120, what="pods gone"
    )
    assert remaining == {
        "Secret": {"deepiri-redis", "deepiri-influxdb", "deepiri-identity-credentials"},
        "PersistentVolumeClaim": {
            "data-deepiri-mongodb-0",
            "data-deepiri-redis-0",
            "data-deepiri-influxdb-0",
        },
    }, remaining
    secrets = {s: kube_json(f"secret/{s}")["metadata"]["annotations"] for s in remaining["Secret"]}
    assert all(a.get("helm.sh/resource-policy") == "keep" for a in secrets.values()), secrets
    cluster_scoped = run(
        "kubectl",
        "get",
        "clusterroles,clusterrolebindings",
        "-l",
        f"app.kubernetes.io/instance={RELEASE}",
        "-o",
        "name",
    )
    assert cluster_scoped.stdout.strip() == ""
    assert kubectl("get", "ns", NAMESPACE, check=False).returncode == 0

    # A re-install adopts the kept credentials and finds the data on the kept volumes.
    release.upgrade()
    assert kube_json("secret/deepiri-redis")["data"] == redis_password
    assert kube_json("secret/deepiri-identity-credentials")["data"] == identity
    with httpx.Client(base_url=release.ingress, headers=person.headers, timeout=15) as api:
        found = eventually(
            lambda: (r := api.get(f"/api/tasks/{task_id}")).status_code == 200 and r,
            timeout=60,
            what="the task written before the uninstall",
        )
        assert found.json()["title"] == "outlive the release"
