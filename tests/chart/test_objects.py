"""Properties of the rendered objects: hardening, autoscaling and disruption budgets, routing,
and NetworkPolicies that let exactly the real callers through."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import urlparse

import pytest

from support.charts import (
    NAMESPACE,
    RENDERS,
    PodRef,
    allowed,
    by_name,
    chart_values,
    existing_services,
    of_kind,
    pod_templates,
    render,
    selector_matches,
    service_names,
    settings_class,
)

pytestmark = pytest.mark.chart
ALL = list(RENDERS)


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


@pytest.mark.parametrize("name", ALL)
def test_every_pod_runs_restricted(name: str) -> None:
    for owner, template in pod_templates(render(name)):
        spec, where = template["spec"], f"{owner['kind']}/{owner['metadata']['name']}"
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, where
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert isinstance(pod_sc.get("runAsUser"), int), where
        assert pod_sc["runAsUser"] > 0, where
        assert spec.get("hostNetwork") is not True, where
        assert spec.get("hostPID") is not True, where
        for c in _containers(spec):
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, (where, c["name"])
            assert sc.get("readOnlyRootFilesystem") is True, (where, c["name"])
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], (where, c["name"])
            assert not sc.get("capabilities", {}).get("add"), (where, c["name"])
            assert sc.get("seccompProfile", {}).get("type", "RuntimeDefault") == "RuntimeDefault", (
                where
            )
            assert sc.get("privileged") in (None, False), where
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), (where, c["name"], kind)


@pytest.mark.parametrize("name", ALL)
def test_every_long_running_container_has_probes(name: str) -> None:
    for owner, template in pod_templates(render(name)):
        if owner["kind"] == "Pod":
            continue  # helm test pods run once
        for c in template["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, f"{owner['metadata']['name']}/{c['name']} lacks {probe}"


@pytest.mark.parametrize("name", ALL)
def test_services_probe_health_and_livez(name: str) -> None:
    docs = render(name)
    for deployment in of_kind(docs, "Deployment"):
        if deployment["metadata"]["labels"].get("app.kubernetes.io/component") != "service":
            continue
        c = deployment["spec"]["template"]["spec"]["containers"][0]
        assert c["readinessProbe"]["httpGet"]["path"] == "/health"
        assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert c["startupProbe"]["httpGet"]["path"] == "/livez"
        assert not deployment["spec"]["template"]["spec"]["automountServiceAccountToken"]
        env = {e["name"]: e for e in c["env"]}
        assert (
            env["OTEL_SERVICE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"]
            == "metadata.labels['app.kubernetes.io/name']"
        )
        assert "service.version=" in env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
        assert {"configMapRef": {"name": f"{deployment['metadata']['name']}-config"}} in c[
            "envFrom"
        ]
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0
        assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert c["volumeMounts"][0] == {"name": "tmp", "mountPath": "/tmp"}


@pytest.mark.parametrize("name", ALL)
def test_every_service_workload_has_matching_hpa_and_pdb(name: str) -> None:
    docs = render(name)
    hpas, pdbs = by_name(docs, "HorizontalPodAutoscaler"), of_kind(docs, "PodDisruptionBudget")
    for deployment in of_kind(docs, "Deployment"):
        if deployment["metadata"]["labels"].get("app.kubernetes.io/component") != "service":
            continue
        dname = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        hpa = hpas[dname]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": dname,
        }
        assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
        assert "replicas" not in deployment["spec"], f"{dname}: fixed replicas while the HPA is on"
        matching = [p for p in pdbs if selector_matches(p["spec"]["selector"], labels)]
        assert len(matching) == 1, f"{dname}: {len(matching)} PDBs select it"


@pytest.mark.parametrize("name", ALL)
def test_every_public_prefix_is_routed_to_an_existing_service_port(name: str) -> None:
    docs = render(name)
    services = by_name(docs, "Service")
    values = chart_values()
    deployed = [n for n in service_names() if n in by_name(docs, "Deployment")]
    routes: dict[str, tuple[str, int]] = {}
    for ingress in of_kind(docs, "Ingress"):
        assert ingress["apiVersion"] == "networking.k8s.io/v1"
        annotations = ingress["metadata"].get("annotations") or {}
        assert not annotations, "no controller-specific annotations"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["pathType"] == "Prefix"
                backend = path["backend"]["service"]
                routes[path["path"]] = (backend["name"], backend["port"]["number"])
    for route in of_kind(docs, "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            for match in rule["matches"]:
                assert match["path"]["type"] == "PathPrefix"
                ref = rule["backendRefs"][0]
                routes[match["path"]["value"]] = (ref["name"], ref["port"])
    assert bool(of_kind(docs, "Ingress")) != bool(of_kind(docs, "HTTPRoute")), (
        "Ingress xor Gateway API"
    )
    for svc in deployed:
        prefix = values[svc]["prefix"]
        if values[svc].get("routed", True):
            assert prefix in routes, f"{prefix} ({svc}) is not routed"
        else:
            assert prefix not in routes, f"{prefix} ({svc}) is internal but routed"
    for prefix, (svc, port) in routes.items():
        assert svc in services, f"{prefix} → missing Service {svc}"
        assert port in [p["port"] for p in services[svc]["spec"]["ports"]], (
            f"{prefix} → {svc}:{port} has no such port"
        )
        assert prefix == values[svc]["prefix"]


def test_socket_io_is_routed_for_websockets() -> None:
    docs = render("all-services")
    assert (
        by_name(docs, "Service")["websocket-service"]["spec"]["ports"][0]["appProtocol"]
        == "kubernetes.io/ws"
    )
    gateway = load_gateway_all_services()
    route = by_name(gateway, "HTTPRoute")["websocket-service"]
    assert route["spec"]["rules"][0]["timeouts"] == {"request": "0s"}
    assert route["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/socket.io"


def load_gateway_all_services() -> list[dict[str, Any]]:
    from support.charts import ALL_SERVICES_VALUES, helm_template, load_docs

    return load_docs(
        helm_template(["values-kind.yaml", "values-gateway.yaml", ALL_SERVICES_VALUES]).stdout
    )


# --- the caller graph and NetworkPolicies -----------------------------------------------

SERVICE_HOST = re.compile(r"^[a-z0-9-]+$")


def url_targets(value: str, services: set[str]) -> tuple[str, int] | None:
    try:
        parsed = urlparse(value)
    except ValueError:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    host = parsed.hostname.split(".")[0]
    if host in services and parsed.port:
        return host, parsed.port
    return None


def caller_graph(docs: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    """(caller, callee, port) from the services' configuration: the URL defaults of each existing
    service's settings class, and every URL in a service's rendered ConfigMap / env."""
    names = set(service_names())
    edges: set[tuple[str, str, int]] = set()
    deployments = by_name(docs, "Deployment")
    from deepiri_kit.settings import ServiceSettings

    for service in deployments:
        if service not in names:
            continue
        # A service without code yet still inherits the kit's settings (JWKS_URL, …).
        cls = settings_class(service) if service in existing_services() else ServiceSettings
        for field in dataclasses.fields(cls):
            if isinstance(field.default, str) and (target := url_targets(field.default, names)):
                edges.add((service, *target))
    configmaps = by_name(docs, "ConfigMap")
    for name, deployment in deployments.items():
        if name not in names:
            continue
        values = list((configmaps.get(f"{name}-config", {}).get("data") or {}).values())
        values += [
            e.get("value", "")
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        ]
        for value in values:
            if target := url_targets(str(value), names):
                edges.add((name, *target))
    return {e for e in edges if e[0] != e[1]}


def pod_of(docs: list[dict[str, Any]], name: str) -> PodRef:
    for kind in ("Deployment", "StatefulSet"):
        if name in by_name(docs, kind):
            return PodRef(by_name(docs, kind)[name]["spec"]["template"]["metadata"]["labels"])
    raise AssertionError(f"no workload {name}")


def test_caller_graph_comes_from_configuration() -> None:
    edges = caller_graph(render("all-services"))
    # Every service fetches user-service's JWKS (kit default JWKS_URL).
    for service in service_names():
        if service == "user-service":
            continue
        assert (service, "user-service", 5001) in edges
    # challenge-service → ai-service (PYAGENT_URL in its configuration).
    assert ("challenge-service", "ai-service", 8000) in edges


def test_network_policies_let_the_real_callers_through() -> None:
    docs = render("all-services")
    policies = of_kind(docs, "NetworkPolicy")
    problems = []
    for caller, callee, port in sorted(caller_graph(docs)):
        ok, why = allowed(policies, pod_of(docs, caller), pod_of(docs, callee), port)
        if not ok:
            problems.append(f"{caller} → {callee}:{port}: {why}")
    assert not problems, "\n".join(problems)


def test_network_policies_deny_what_is_not_a_call() -> None:
    docs = render("all-services")
    policies = of_kind(docs, "NetworkPolicy")
    edges = caller_graph(docs)
    values = chart_values()
    # Pairs that are not in the graph stay closed (spot-check every service pair).
    for caller in service_names():
        for callee in service_names():
            if caller == callee or (caller, callee, values[callee]["port"]) in edges:
                continue
            ok, _ = allowed(
                policies, pod_of(docs, caller), pod_of(docs, callee), values[callee]["port"]
            )
            assert not ok, f"{caller} may reach {callee} although it never calls it"
    # A random pod in the namespace reaches nothing.
    stranger = PodRef({"app": "stranger"})
    for svc in service_names():
        assert not allowed(policies, stranger, pod_of(docs, svc), values[svc]["port"])[0]
    for store, port in (
        ("deepiri-mongodb", 27017),
        ("deepiri-redis", 6379),
        ("deepiri-influxdb", 8086),
    ):
        assert not allowed(policies, stranger, pod_of(docs, store), port)[0]


def test_services_reach_exactly_their_datastores() -> None:
    """A service's datastores in values = the mixins its settings class inherits."""
    from deepiri_kit.settings import InfluxSettings, MongoSettings, RedisSettings

    mixins = {"mongo": MongoSettings, "redis": RedisSettings, "influx": InfluxSettings}
    docs = render("all-services")
    policies = of_kind(docs, "NetworkPolicy")
    values = chart_values()
    stores = {
        "mongo": ("deepiri-mongodb", 27017),
        "redis": ("deepiri-redis", 6379),
        "influx": ("deepiri-influxdb", 8086),
    }
    for service in existing_services():
        declared = set(values[service]["datastores"])
        inherited = {k for k, mixin in mixins.items() if issubclass(settings_class(service), mixin)}
        assert declared == inherited, (
            f"{service}: values datastores {declared} != settings mixins {inherited}"
        )
    for service in service_names():
        for kind, (store, port) in stores.items():
            ok, why = allowed(policies, pod_of(docs, service), pod_of(docs, store), port)
            assert ok == (kind in values[service]["datastores"]), f"{service} → {store}: {why}"


def test_ingress_controller_monitoring_dns_and_collector_are_allowed() -> None:
    docs = render("all-services")
    policies = of_kind(docs, "NetworkPolicy")
    values = chart_values()
    traefik = PodRef({"app.kubernetes.io/name": "traefik"}, namespace="traefik")
    prometheus = pod_of(docs, "deepiri-prometheus")
    collector = pod_of(docs, "deepiri-otel-collector")
    dns = PodRef({"k8s-app": "kube-dns"}, namespace="kube-system")
    for svc in service_names():
        port = values[svc]["port"]
        pod = pod_of(docs, svc)
        routed = values[svc].get("routed", True)
        assert allowed(policies, traefik, pod, port)[0] == routed, f"Ingress controller → {svc}"
        assert allowed(policies, prometheus, pod, port)[0], f"Prometheus → {svc}"
        assert allowed(policies, pod, collector, 4318)[0], f"{svc} → collector"
        assert allowed(policies, pod, dns, 53)[0], f"{svc} → DNS"
    assert allowed(policies, collector, pod_of(docs, "deepiri-jaeger"), 4317)[0]
    assert allowed(policies, pod_of(docs, "deepiri-grafana"), prometheus, 9090)[0]
    # helm test pods reach every service.
    tests = PodRef(by_name(docs, "Pod")["deepiri-test-ingress"]["metadata"]["labels"])
    for svc in service_names():
        health = PodRef(by_name(docs, "Pod")[f"{svc}-test-health"]["metadata"]["labels"])
        assert allowed(policies, health, pod_of(docs, svc), values[svc]["port"])[0], svc
    assert allowed(policies, tests, traefik, 8000)[0]


def test_ai_service_is_reached_only_by_its_callers() -> None:
    """Only other services call ai-service: no route, and its NetworkPolicy admits
    challenge-service (which lists it as an upstream), metrics scrapers and the helm test
    pod, not the Ingress controller nor any other service."""
    docs = render("all-services")
    assert not chart_values()["ai-service"]["routed"]
    policies = of_kind(docs, "NetworkPolicy")
    agent = pod_of(docs, "ai-service")
    callers = {
        svc for svc in service_names() if allowed(policies, pod_of(docs, svc), agent, 8000)[0]
    }
    assert callers == {"challenge-service"}
    traefik = PodRef({"app.kubernetes.io/name": "traefik"}, namespace="traefik")
    assert not allowed(policies, traefik, agent, 8000)[0]
    for ingress in of_kind(docs, "Ingress"):
        paths = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
        assert "/api/agent" not in paths


def test_every_pod_is_selected_by_a_network_policy() -> None:
    docs = render("all-services")
    policies = of_kind(docs, "NetworkPolicy")
    for owner, template in pod_templates(docs):
        labels = template["metadata"]["labels"]
        assert any(selector_matches(p["spec"]["podSelector"], labels) for p in policies), owner[
            "metadata"
        ]["name"]
        assert all(p["metadata"]["namespace"] == NAMESPACE for p in policies)
