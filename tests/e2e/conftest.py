"""The platform on a real single-node Kubernetes (``make e2e``, k8s/cluster/e2e.sh).

The cluster, the images and Traefik are already there (e2e.sh); the fixtures here install
the chart the way a user would — its own values-kind.yaml layered with this cluster's
k8s/cluster/values.yaml — into a namespace with Pod Security "restricted" enforced. Every
token comes from the chart's own user-service: people sign in with the device grant, load
generators are service clients registered with RFC 7591 (helpers.Release)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import MACHINES, NAMESPACE, VOLUMES, Release, apply


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the e2e suite with `make e2e` (k8s/cluster/e2e.sh)",
            pytrace=False,
        )
    return value


def _volumes(root: Path) -> list[dict[str, Any]]:
    """Static hostPath PersistentVolumes (the node has no provisioner), owned by the uid the
    chart's datastores run as (hostPath volumes are not chowned for fsGroup)."""
    pvs = []
    for i in range(VOLUMES):
        path = root / f"pv-{i}"
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, 10001, 10001)
        path.chmod(0o700)
        pvs.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {
                    "name": f"deepiri-local-pv-{i}",
                    "labels": {"deepiri.io/local-volume": "true"},
                },
                "spec": {
                    "capacity": {"storage": "5Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": str(path), "type": "Directory"},
                },
            }
        )
    return pvs


@pytest.fixture(scope="session")
def release() -> Release:
    values = _env("DEEPIRI_E2E_VALUES").split(":")
    ingress = _env("DEEPIRI_E2E_INGRESS")
    _env("KUBECONFIG")
    apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
        }
    )
    apply(_volumes(Path(_env("DEEPIRI_E2E_VOLUMES"))))
    apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "deepiri-mongodb-local", "namespace": NAMESPACE},
            "stringData": {
                "mongo-uri": "mongodb://deepiri-mongodb:27017/",
                "root-password": uuid.uuid4().hex,
            },
        }
    )
    rel = Release(ingress=ingress, values=values)
    rel.upgrade()
    # The load generators' clients, registered before any load needs them.
    for slot in range(MACHINES):
        rel.machine(slot)
    return rel
