"""Offline (runs in `make test`): the local cluster's values layer on values-kind.yaml the
way make e2e installs them, and change only what the cluster needs — images built here,
no observability stack, FerretDB's credential-less Secret, the public issuer at the node's
address."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support.charts import ROOT, helm_template, load_docs, of_kind

pytestmark = pytest.mark.chart
CLUSTER = ROOT / "k8s" / "cluster"


def test_cluster_values_render_over_the_kind_values(tmp_path: Path) -> None:
    images = subprocess.run(
        ["bash", str(CLUSTER / "images.sh"), "--values"], capture_output=True, text=True, check=True
    ).stdout
    (tmp_path / "images.yaml").write_text(images)
    docs = load_docs(
        helm_template(
            ["values-kind.yaml", str(CLUSTER / "values.yaml"), str(tmp_path / "images.yaml")]
        ).stdout
    )
    tags = {
        svc: v["image"]["tag"] for svc, v in yaml.safe_load(images).items() if "-service" in svc
    }
    containers = {
        c["name"]: c["image"]
        for d in of_kind(docs, "Deployment", "StatefulSet")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    for svc in ("task-service", "gamification-service"):
        assert containers[svc] == f"deepiri/{svc}:{tags[svc]}"
    # Each service's tag hashes its own Dockerfile and the context files it copies.
    assert tags["task-service"] != tags["gamification-service"]
    for store in ("mongodb", "redis", "influxdb"):
        assert containers[store].startswith("deepiri.local/"), containers[store]
    names = {d["metadata"]["name"] for d in docs}
    assert not {
        n for n in names if any(o in n for o in ("jaeger", "grafana", "prometheus", "otel"))
    }
    secrets = {d["metadata"]["name"] for d in of_kind(docs, "Secret")}
    assert "deepiri-mongodb" not in secrets  # the suite's own deepiri-mongodb-local instead
    assert of_kind(docs, "Ingress")

    # Tokens name the Ingress as a person on this machine reaches it (the node's address and
    # Traefik's NodePort); the services fetch the keys inside the cluster and believe the
    # client address Traefik forwards from the pod network.
    lib = (CLUSTER / "lib.sh").read_text()
    node_ip = re.search(r"^NODE_IP=(\S+)", lib, re.M)
    pod_cidr = re.search(r"^POD_CIDR=(\S+)", lib, re.M)
    assert node_ip
    assert pod_cidr
    traefik = (ROOT / "k8s" / "traefik.yaml").read_text()
    assert "{name: web, port: 80, targetPort: web, nodePort: 30080}" in traefik
    for name in ("task-service", "gamification-service", "user-service"):
        config = next(
            d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == f"{name}-config"
        )
        assert config["data"]["JWT_ISSUER"] == f"http://{node_ip.group(1)}:30080/api/users"
        assert config["data"]["JWKS_URL"] == "http://user-service:5001/api/users/oauth/jwks"
        assert config["data"]["FORWARDED_ALLOW_IPS"] == pod_cidr.group(1)


def test_a_service_image_tag_changes_exactly_when_its_inputs_change(tmp_path: Path) -> None:
    """The cache key of a service image: its Dockerfile and the context files it copies."""
    for part in ("k8s/cluster", "services", "charts/deepiri/values.yaml", ".dockerignore"):
        src, dest = ROOT / part, tmp_path / part
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dest)

    def tags(root: Path = tmp_path) -> dict[str, str]:
        out = subprocess.run(
            ["bash", str(root / "k8s/cluster/images.sh"), "--values"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {k: v["image"]["tag"] for k, v in yaml.safe_load(out).items() if "-service" in k}

    before = tags()
    assert before == tags(ROOT), "a copy of the same content has the same tags"
    (tmp_path / "services/gamification-service/README.md").write_text("not in the context\n")
    assert tags() == before
    app = next((tmp_path / "services/gamification-service/src").rglob("*.py"))
    app.write_text(app.read_text() + "\n# changed\n")
    after = tags()
    assert after["task-service"] == before["task-service"]
    assert after["gamification-service"] != before["gamification-service"]
    kit = next((tmp_path / "services/kit/src").rglob("*.py"))
    kit.write_text(kit.read_text() + "\n# changed\n")
    assert all(tags()[s] != after[s] for s in after)
