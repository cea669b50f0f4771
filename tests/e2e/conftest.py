"""The platform on a real single-node Kubernetes (``make e2e``, k8s/cluster/e2e.sh).

The cluster, the images and Traefik are already there (e2e.sh); the fixtures here install
the chart the way a user would — its own values-kind.yaml layered with this cluster's
k8s/cluster/values.yaml — into a namespace with Pod Security "restricted" enforced. Until
user-service exists, a stand-in serves a JWKS at user-service's address and the tests mint
RFC 9068 tokens with its key."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import NAMESPACE, RELEASE, VOLUMES, Release, apply, kubectl
from support.tokens import TokenIssuer


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


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _jwks_stand_in(image: str, jwks: dict[str, Any]) -> list[dict[str, Any]]:
    """user-service's address serving only its JWKS (/api/users/oauth/jwks), labelled as
    user-service so the chart's NetworkPolicies admit the services' calls to it."""
    labels = {"app.kubernetes.io/name": "user-service", "app.kubernetes.io/instance": RELEASE}
    document = json.dumps(jwks)
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "e2e-jwks", "namespace": NAMESPACE},
            "data": {"jwks": document},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "user-service", "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    # A new key set rolls the pod (a mounted ConfigMap updates only lazily).
                    "metadata": {
                        "labels": labels,
                        "annotations": {
                            "deepiri.io/jwks": hashlib.sha256(document.encode()).hexdigest()
                        },
                    },
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsUser": 10001,
                            "runAsGroup": 10001,
                            "runAsNonRoot": True,
                        },
                        "containers": [
                            {
                                "name": "jwks",
                                "image": image,
                                "command": [
                                    "python3",
                                    "-m",
                                    "http.server",
                                    "5001",
                                    "--directory",
                                    "/srv",
                                ],
                                "ports": [{"name": "http", "containerPort": 5001}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/api/users/oauth/jwks", "port": "http"}
                                },
                                "securityContext": RESTRICTED_CONTAINER,
                                "resources": {
                                    "requests": {"cpu": "10m", "memory": "32Mi"},
                                    "limits": {"memory": "64Mi"},
                                },
                                "volumeMounts": [
                                    {
                                        "name": "jwks",
                                        "mountPath": "/srv/api/users/oauth",
                                        "readOnly": True,
                                    }
                                ],
                            }
                        ],
                        "volumes": [{"name": "jwks", "configMap": {"name": "e2e-jwks"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "user-service", "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": 5001, "targetPort": "http"}],
            },
        },
    ]


@pytest.fixture(scope="session")
def release() -> Iterator[Release]:
    values = _env("DEEPIRI_E2E_VALUES").split(":")
    ingress = _env("DEEPIRI_E2E_INGRESS")
    base_image = _env("DEEPIRI_E2E_BASE_IMAGE")
    _env("KUBECONFIG")
    issuer = TokenIssuer()
    try:
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
        apply(_jwks_stand_in(base_image, issuer.jwks()))
        kubectl("rollout", "status", "deployment/user-service", "--timeout=180s")
        rel = Release(ingress=ingress, values=values, issuer=issuer)
        rel.upgrade()
        yield rel
    finally:
        issuer.close()
