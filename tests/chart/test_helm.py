"""The charts lint, render with every values set, validate against the Kubernetes schemas of
the oldest and newest supported versions (and the CRDs' own schemas), match the golden
renders, and the values schemas reject typos while accepting what users need."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from support.charts import (
    CHART,
    CRDS,
    FIXTURES,
    GOLDEN,
    NEWEST_K8S,
    OLDEST_K8S,
    RENDERS,
    ROOT,
    SERVICE_CHART,
    by_name,
    helm_template,
    load_docs,
    render,
    render_notes,
    render_text,
    run,
    tool,
    values_args,
)

pytestmark = pytest.mark.chart


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["values-kind.yaml"],
        ["values-kind.yaml", "values-gateway.yaml"],
        ["values-prod.yaml", str(FIXTURES / "prod-site.yaml")],
    ],
    ids=["default", "kind", "gateway", "prod"],
)
def test_umbrella_lints_strict(values: list[str]) -> None:
    for k8s in (OLDEST_K8S, NEWEST_K8S):
        run(
            [
                tool("helm"),
                "lint",
                "--strict",
                str(CHART),
                "--kube-version",
                k8s,
                *values_args(values),
            ]
        )


def test_service_chart_lints_strict() -> None:
    run(
        [
            tool("helm"),
            "lint",
            "--strict",
            str(SERVICE_CHART),
            "--kube-version",
            OLDEST_K8S,
            "-f",
            str(FIXTURES / "service-lint.yaml"),
        ]
    )


# --- schema validation of every rendered object ----------------------------------------


def _strict(schema: Any) -> Any:
    """A CRD's structural schema with unknown fields rejected (kubectl --validate=strict)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _crd_schemas() -> dict[tuple[str, str], Any]:
    if not CRDS.is_dir():
        pytest.fail(f"CRD schemas missing in {CRDS}: run `make tools`", pytrace=False)
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in load_docs(path.read_text()):
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schemas[(f"{group}/{version['name']}", kind)] = _strict(
                    version["schema"]["openAPIV3Schema"]
                )
    return schemas


@pytest.mark.parametrize("k8s", [OLDEST_K8S, NEWEST_K8S])
@pytest.mark.parametrize("name", list(RENDERS))
def test_rendered_objects_are_valid(name: str, k8s: str) -> None:
    text = helm_template(
        RENDERS[name]["values"],
        api_versions=RENDERS[name].get("api_versions", ()),
        kube_version=k8s,
    ).stdout
    crds = _crd_schemas()
    problems = []
    for doc in load_docs(text):
        key = (doc["apiVersion"], doc["kind"])
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if key in crds:
            body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
            for error in jsonschema.Draft7Validator(crds[key]).iter_errors(body):
                problems.append(f"{where}: {error.json_path}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(doc, k8s, strict=True)
        except kubernetes_validate.utils.ValidationError as exc:
            problems.append(f"{where}: {exc.path}: {exc.message}")
        except kubernetes_validate.utils.SchemaNotFoundError:
            problems.append(f"{where}: no schema for {key} in Kubernetes {k8s} and no CRD schema")
    assert not problems, "\n".join(problems)


def test_render_and_validate_timing(record_property: Any) -> None:
    """Measured figures for the report: one render and one validation pass."""
    start = time.perf_counter()
    text = helm_template(["values-kind.yaml"]).stdout
    rendered = time.perf_counter() - start
    start = time.perf_counter()
    docs = load_docs(text)
    for doc in docs:
        if doc["apiVersion"].startswith(("gateway.", "monitoring.")):
            continue
        kubernetes_validate.validate(doc, NEWEST_K8S, strict=True)
    validated = time.perf_counter() - start
    record_property("render_seconds", rendered)
    record_property("validate_seconds", validated)
    print(f"\nkind render: {len(docs)} objects in {rendered:.2f}s, validated in {validated:.2f}s")
    assert rendered < 30
    assert validated < 60


# --- golden renders ----------------------------------------------------------------------


def normalise(text: str) -> str:
    """Generated secret values differ per render: replace them (and only them)."""
    docs = load_docs(text)
    for doc in docs:
        annotations = doc["metadata"].get("annotations") or {}
        if doc["kind"] == "Secret" and annotations.get("deepiri.io/generated") == "true":
            doc["data"] = dict.fromkeys(doc.get("data", {}), "<generated>")
    return yaml.safe_dump_all(docs, sort_keys=False, width=100)


@pytest.mark.parametrize("name", ["default", "prod"])
def test_golden_render(name: str) -> None:
    golden = GOLDEN / f"{name}.yaml"
    actual = normalise(render_text(name))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(actual)
    assert golden.exists(), f"{golden} missing: run UPDATE_GOLDEN=1 pytest tests/chart -k golden"
    expected = golden.read_text()
    if actual != expected:
        import difflib

        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), str(golden), "rendered", n=2
            )
        )
        pytest.fail(
            f"render differs from {golden.name}; review, then regenerate with "
            f"UPDATE_GOLDEN=1 pytest tests/chart -k golden\n{diff[:6000]}"
        )


# --- values schemas -------------------------------------------------------------------


def test_schemas_are_generated_from_one_definition() -> None:
    run([sys.executable, str(ROOT / "charts" / "values_schema.py"), "--check"])


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("task-servce.enabled=true", "additional properties 'task-servce' not allowed"),
        (
            "task-service.autoscalling.enabled=false",
            "additional properties 'autoscalling' not allowed",
        ),
        ("task-service.resources.limit.memory=1Gi", "additional properties 'limit' not allowed"),
        ("global.logLevel=TRACE", "value must be one of"),
        ("task-service.datastores={postgres}", "value must be one of 'mongo', 'redis', 'influx'"),
        ("ingress.clasName=nginx", "additional properties 'clasName' not allowed"),
        ("task-service.image.digest=latest", "does not match pattern"),
    ],
)
def test_schema_rejects_typos_with_a_clear_message(flag: str, message: str) -> None:
    proc = helm_template(sets=[flag], check=False)
    assert proc.returncode != 0, f"--set {flag} was accepted"
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert message in proc.stderr, proc.stderr


def test_schema_accepts_what_users_need() -> None:
    docs = load_docs(helm_template(["values-kind.yaml", str(FIXTURES / "user-needs.yaml")]).stdout)
    deployment = by_name(docs, "Deployment")["task-service"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["FEATURE_FLAG"]["value"] == "on"
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "ai-keys",
        "key": "openai",
    }
    assert {"secretRef": {"name": "task-extra"}} in container["envFrom"]
    assert any(v["name"] == "certs" for v in pod["volumes"])
    assert any(m["mountPath"] == "/etc/certs" for m in container["volumeMounts"])
    assert container["readinessProbe"]["periodSeconds"] == 2
    assert container["livenessProbe"]["exec"]["command"] == ["true"]
    assert "httpGet" not in container["livenessProbe"], (
        "a handler override replaces the default handler"
    )
    assert (
        container["image"] == "registry.example.internal/team/task:1.2.3@sha256:" + "a" * 64
        or container["image"] == "registry.example.internal/team/task@sha256:" + "a" * 64
    )
    config = by_name(docs, "ConfigMap")["task-service-config"]["data"]
    assert config["EXTRA_SETTING"] == "42"


# --- production values --------------------------------------------------------------


def test_prod_values_alone_refuse_to_render() -> None:
    proc = helm_template(["values-prod.yaml"], check=False)
    assert proc.returncode != 0
    assert "is required" in proc.stderr, proc.stderr


def test_prod_render_has_no_secret_and_no_bundled_parts() -> None:
    docs = render("prod")
    assert not [d for d in docs if d["kind"] == "Secret"], (
        "production must only reference existing Secrets"
    )
    assert not [d for d in docs if d["kind"] == "StatefulSet"], (
        "no bundled datastores in production"
    )
    names = {d["metadata"]["name"] for d in docs}
    assert not names & {
        "deepiri-grafana",
        "deepiri-prometheus",
        "deepiri-jaeger",
        "deepiri-otel-collector",
    }
    kinds = {d["kind"] for d in docs}
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds
    dashboards = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert dashboards, "dashboard ConfigMaps with the Grafana sidecar label"
    for secret_ref in re.findall(r"secretKeyRef:\s*\n\s*name: (\S+)", render_text("prod")):
        assert re.fullmatch(r"deepiri-[a-z]+-credentials", secret_ref), secret_ref


def test_generated_secrets_persist_via_lookup() -> None:
    """Each generated credential is looked up first (so upgrades keep it) and kept on uninstall."""
    for template in ("mongodb.yaml", "redis.yaml", "influxdb.yaml", "grafana.yaml"):
        text = (CHART / "templates" / template).read_text()
        assert "deepiri.generatedSecret" in text, template
        assert "helm.sh/resource-policy: keep" in text, template
    helper = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'lookup "v1" "Secret"' in helper
    kind = render("kind")
    first = {d["metadata"]["name"]: d["data"] for d in kind if d["kind"] == "Secret"}
    again = {
        d["metadata"]["name"]: d["data"]
        for d in load_docs(helm_template(["values-kind.yaml"]).stdout)
        if d["kind"] == "Secret"
    }
    # Without a cluster, lookup finds nothing: values are random (never a fixed default).
    assert set(first) == set(again)
    assert all(first[n] != again[n] for n in first)


def test_hpa_on_means_no_replicas_field() -> None:
    docs = render("default")
    assert "replicas" not in by_name(docs, "Deployment")["task-service"]["spec"]
    off = load_docs(
        helm_template(
            sets=["task-service.autoscaling.enabled=false", "task-service.replicaCount=3"]
        ).stdout
    )
    assert by_name(off, "Deployment")["task-service"]["spec"]["replicas"] == 3
    assert "task-service" not in by_name(off, "HorizontalPodAutoscaler")


def test_helm_test_pods_and_fault_switch() -> None:
    docs = render("kind")
    tests = [d for d in docs if d["kind"] == "Pod"]
    assert all(d["metadata"]["annotations"]["helm.sh/hook"] == "test" for d in tests)
    script = {d["metadata"]["name"]: d["spec"]["containers"][0]["command"][-1] for d in tests}
    assert "http://task-service:5002/health" in script["task-service-test-health"]
    assert "/api/tasks/schema/openapi.json" in script["deepiri-test-ingress"]
    assert "traefik.traefik.svc.cluster.local" in script["deepiri-test-ingress"]
    failing = load_docs(helm_template(["values-kind.yaml"], sets=["tests.fail=true"]).stdout)
    for pod in (d for d in failing if d["kind"] == "Pod"):
        assert "-deliberately-missing" in pod["spec"]["containers"][0]["command"][-1]
    # The scripts are valid Python.
    for name, code in script.items():
        compile(code, name, "exec")


def test_notes_say_how_to_reach_the_platform(tmp_path: Path) -> None:
    notes = render_notes(tmp_path, values=["values-kind.yaml"])
    assert "http://localhost/api/tasks" in notes
    assert "helm test deepiri" in notes
    assert "port-forward svc/deepiri-grafana" in notes
    # A person at a terminal is told the public issuer and the device grant.
    assert "http://localhost/api/users/oauth/device_authorization" in notes
    assert 'Sign in with Deepiri" at http://localhost:3000' in notes


def test_values_files_do_not_carry_secrets() -> None:
    key = re.compile(
        r"^\s*([A-Za-z_-]*(password|token|secret|api[_-]?key))\s*:\s*(.*)$", re.IGNORECASE
    )
    for path in [*CHART.glob("values*.yaml"), *SERVICE_CHART.glob("values*.yaml")]:
        for line in path.read_text().splitlines():
            match = key.match(line.split(" #", 1)[0])
            if match:
                value = match.group(3).strip().strip('"')
                assert value in ("", "{}", "[]", "true", "false") or match.group(1).endswith(
                    ("Secret", "secret")
                ), f"{path.name}: {line.strip()}"
