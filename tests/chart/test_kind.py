"""k8s/: the kind cluster config, the Traefik install applied outside the chart and the
make up / make down scripts agree with each other and with the chart's kind values."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml

from support.charts import (
    CHART,
    NEWEST_K8S,
    OLDEST_K8S,
    ROOT,
    PodRef,
    allowed,
    by_name,
    helm_template,
    load_docs,
    of_kind,
    run,
    selector_matches,
)

pytestmark = pytest.mark.chart
K8S = ROOT / "k8s"


def traefik() -> list[dict]:
    return load_docs((K8S / "traefik.yaml").read_text())


@pytest.mark.parametrize("k8s", [OLDEST_K8S, NEWEST_K8S])
def test_traefik_manifest_is_valid(k8s: str) -> None:
    for doc in traefik():
        kubernetes_validate.validate(doc, k8s, strict=True)


def test_kind_config_maps_host_ports_to_the_ingress_controller() -> None:
    config = yaml.safe_load((K8S / "kind.yaml").read_text())
    assert config["kind"] == "Cluster"
    assert config["name"] == "deepiri"
    node = config["nodes"][0]
    assert node["labels"]["ingress-ready"] == "true"
    mapped = {m["hostPort"]: m["containerPort"] for m in node["extraPortMappings"]}
    assert set(mapped) == {80, 443}
    service = by_name(traefik(), "Service")["traefik"]
    node_ports = {p["nodePort"]: p for p in service["spec"]["ports"]}
    deployment = by_name(traefik(), "Deployment")["traefik"]
    pod = deployment["spec"]["template"]["spec"]
    container_ports = {p["name"]: p["containerPort"] for p in pod["containers"][0]["ports"]}
    args = pod["containers"][0]["args"]
    for host, node_port in mapped.items():
        port = node_ports[node_port]
        assert port["port"] == host
        entry = port["targetPort"]
        assert f"--entryPoints.{entry}.address=:{container_ports[entry]}" in args
    assert pod["nodeSelector"] == {"ingress-ready": "true"}
    # WebSockets through the Ingress: no read deadline on the entry points.
    assert "--entryPoints.web.transport.respondingTimeouts.readTimeout=0s" in args


def test_chart_kind_values_match_the_controller() -> None:
    docs = load_docs(helm_template(["values-kind.yaml"]).stdout)
    ingress = of_kind(docs, "Ingress")[0]
    ingress_class = by_name(traefik(), "IngressClass")[ingress["spec"]["ingressClassName"]]
    assert ingress_class["spec"]["controller"] == "traefik.io/ingress-controller"
    # helm test reaches the controller's Service.
    values = yaml.safe_load((CHART / "values-kind.yaml").read_text())
    url = urlparse(values["tests"]["ingressURL"])
    assert url.hostname == "traefik.traefik.svc.cluster.local"
    assert (url.port or 80) in [
        p["port"] for p in by_name(traefik(), "Service")["traefik"]["spec"]["ports"]
    ]
    # The Gateway listener port is the Traefik entry point's.
    gateway_docs = load_docs(helm_template(["values-kind.yaml", "values-gateway.yaml"]).stdout)
    gateway = by_name(gateway_docs, "Gateway")["deepiri"]
    args = by_name(traefik(), "Deployment")["traefik"]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert f"--entryPoints.web.address=:{gateway['spec']['listeners'][0]['port']}" in args
    gateway_class = load_docs((K8S / "traefik-gateway.yaml").read_text())[0]
    assert gateway_class["metadata"]["name"] == gateway["spec"]["gatewayClassName"]
    # The services' NetworkPolicies admit the Traefik pods.
    policies = of_kind(docs, "NetworkPolicy")
    pod_labels = by_name(traefik(), "Deployment")["traefik"]["spec"]["template"]["metadata"][
        "labels"
    ]
    controller = PodRef(pod_labels, namespace="traefik")
    task = by_name(docs, "Deployment")["task-service"]["spec"]["template"]["metadata"]["labels"]
    assert allowed(policies, controller, PodRef(task), 5002)[0]
    assert selector_matches({"matchLabels": {"app.kubernetes.io/name": "traefik"}}, pod_labels)


def test_traefik_runs_restricted() -> None:
    namespace = by_name(traefik(), "Namespace")["traefik"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = by_name(traefik(), "Deployment")["traefik"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert not any("hostPort" in p for p in container["ports"])
    assert re.fullmatch(r"traefik:v\d+\.\d+(\.\d+)?", container["image"])


def test_make_up_and_down_scripts() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^up:.*\n\tbash k8s/up.sh$", makefile, re.MULTILINE)
    assert re.search(r"^down:.*\n\tbash k8s/down.sh$", makefile, re.MULTILINE)
    for script in ("up.sh", "down.sh"):
        run(["bash", "-n", str(K8S / script)])
    up = (K8S / "up.sh").read_text()
    for step in (
        "kind create cluster",
        "--config k8s/kind.yaml",
        "docker build",
        "kind load docker-image",
        "kubectl apply -f k8s/traefik.yaml",
        "helm upgrade --install deepiri charts/deepiri",
        "--wait",
        "values-kind.yaml",
        "helm get notes",
        "pod-security.kubernetes.io/enforce=restricted",
    ):
        assert step in up, step
    assert "kind delete cluster" in (K8S / "down.sh").read_text()
    readme = (ROOT / "README.md").read_text()
    first_command = re.search(r"```sh\n(.+?)\n", readme)
    assert first_command
    assert first_command.group(1).startswith("make up")
