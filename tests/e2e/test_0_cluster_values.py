"""Offline (runs in `make test`): the local cluster's values layer on values-kind.yaml the
way make e2e installs them, and change only what the cluster needs — images built here,
no observability stack, FerretDB's credential-less Secret."""

from __future__ import annotations

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
    tag = yaml.safe_load(images)["global"]["imageTag"]
    containers = {
        c["name"]: c["image"]
        for d in of_kind(docs, "Deployment", "StatefulSet")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert containers["task-service"] == f"deepiri/task-service:{tag}"
    assert containers["gamification-service"] == f"deepiri/gamification-service:{tag}"
    for store in ("mongodb", "redis", "influxdb"):
        assert containers[store].startswith("deepiri.local/"), containers[store]
    names = {d["metadata"]["name"] for d in docs}
    assert not {
        n for n in names if any(o in n for o in ("jaeger", "grafana", "prometheus", "otel"))
    }
    secrets = {d["metadata"]["name"] for d in of_kind(docs, "Secret")}
    assert "deepiri-mongodb" not in secrets  # the suite's own deepiri-mongodb-local instead
    assert of_kind(docs, "Ingress")
