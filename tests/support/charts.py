"""Shared helpers for the packaging tests: tool lookup, helm renders, object queries and a
small NetworkPolicy evaluator."""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "deepiri"
SERVICE_CHART = CHART / "charts" / "deepiri-service"
FIXTURES = ROOT / "tests" / "chart" / "fixtures"
GOLDEN = ROOT / "tests" / "chart" / "golden"
TOOLS = Path(os.environ.get("DEEPIRI_TOOLS", Path.home() / ".cache" / "deepiri-tools" / "bin"))
CRDS = TOOLS.parent / "crds"
# skaffold's config schemas (tools/bootstrap.sh, fetch_skaffold_schema).
SKAFFOLD_SCHEMAS = TOOLS.parent / "skaffold"

# Oldest and newest Kubernetes the chart supports (Chart.yaml kubeVersion: >=1.30).
OLDEST_K8S = "1.30.0"
NEWEST_K8S = "1.37.0"
RELEASE = "deepiri"
NAMESPACE = "deepiri"
MONITORING_APIS = (
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
)


def _all_services_values() -> str:
    """A values file switching on every service in Chart.yaml, whether or not its code exists
    (for the routing table and the caller graph); written from Chart.yaml, not kept by hand."""
    import atexit
    import tempfile

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    text = "".join(f"{d['alias']}: {{enabled: true}}\n" for d in chart["dependencies"])
    with tempfile.NamedTemporaryFile(
        "w", prefix="all-services-", suffix=".yaml", delete=False
    ) as handle:
        handle.write(text)
    atexit.register(os.unlink, handle.name)
    return handle.name


ALL_SERVICES_VALUES = _all_services_values()

# The renders every check runs over: name → values files (+ API versions the cluster has).
RENDERS: dict[str, dict[str, Any]] = {
    "default": {"values": []},
    "kind": {"values": ["values-kind.yaml"]},
    "gateway": {"values": ["values-kind.yaml", "values-gateway.yaml"]},
    "prod": {
        "values": ["values-prod.yaml", str(FIXTURES / "prod-site.yaml")],
        "api_versions": MONITORING_APIS,
    },
    # Every service switched on: the whole caller graph and routing table.
    "all-services": {"values": ["values-kind.yaml", ALL_SERVICES_VALUES]},
}


def tool(name: str) -> str:
    """A tool from the project's tool cache (tools/bootstrap.sh), or on PATH."""
    for candidate in (TOOLS / name, ROOT / ".venv" / "bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: run `make tools` (tools/bootstrap.sh)", pytrace=False)
    return found


def run(
    cmd: list[str], *, check: bool = True, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    # Tools call each other (skaffold and checkov run helm): the tool cache comes first.
    env = {
        **os.environ,
        "PATH": os.pathsep.join(
            [str(TOOLS), str(ROOT / ".venv" / "bin"), os.environ.get("PATH", "")]
        ),
    }
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def values_args(values: Iterable[str]) -> list[str]:
    args: list[str] = []
    for v in values:
        path = Path(v) if Path(v).is_absolute() else CHART / v
        args += ["-f", str(path)]
    return args


def helm_template(
    values: Iterable[str] = (),
    sets: Iterable[str] = (),
    api_versions: Iterable[str] = (),
    kube_version: str = NEWEST_K8S,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    cmd = [
        tool("helm"),
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        kube_version,
        *values_args(values),
    ]
    for s in sets:
        cmd += ["--set", s]
    for api in api_versions:
        cmd += ["--api-versions", api]
    return run(cmd, check=check)


def render_notes(workdir: Path, values: Iterable[str] = (), sets: Iterable[str] = ()) -> str:
    """NOTES.txt as the release prints it. Only install and upgrade render it (they want a
    cluster), so it goes through ``tpl`` in a ConfigMap of a copy of the chart in ``workdir``."""
    copy_dir = workdir / "deepiri"
    shutil.copytree(CHART, copy_dir, symlinks=False)
    (copy_dir / "notes.txt").write_text((CHART / "templates" / "NOTES.txt").read_text())
    (copy_dir / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n"
        '  notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}\n'
    )
    cmd = [tool("helm"), "template", RELEASE, str(copy_dir), "--namespace", NAMESPACE]
    cmd += [*values_args(values), "--show-only", "templates/zz-notes.yaml"]
    for flag in sets:
        cmd += ["--set", flag]
    return str(load_docs(run(cmd).stdout)[0]["data"]["notes"])


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@functools.cache
def render_text(name: str) -> str:
    spec = RENDERS[name]
    return helm_template(spec["values"], api_versions=spec.get("api_versions", ())).stdout


def render(name: str) -> list[dict[str, Any]]:
    return load_docs(render_text(name))


def of_kind(docs: Iterable[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in kinds]


def by_name(docs: Iterable[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_templates(
    docs: Iterable[dict[str, Any]],
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(owner, pod template {metadata, spec}) for every workload and bare Pod."""
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield d, d["spec"]["template"]
        elif d["kind"] == "Pod":
            yield d, d


def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def service_names() -> list[str]:
    """Every service alias in the umbrella's Chart.yaml, in order."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return [d["alias"] for d in chart["dependencies"]]


def enabled_services(values: dict[str, Any] | None = None) -> list[str]:
    values = values or chart_values()
    return [n for n in service_names() if values.get(n, {}).get("enabled")]


def existing_services() -> list[str]:
    """Services with code in the repository: a pyproject under services/<name> that git tracks
    (another engineer's uncommitted work in progress does not count yet)."""
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files", "services/*/pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not tracked:  # not a git checkout (e.g. an exported tree): trust the files
        tracked = [str(p.relative_to(ROOT)) for p in ROOT.glob("services/*-service/pyproject.toml")]
    return sorted(Path(p).parent.name for p in tracked if Path(p).parent.name.endswith("-service"))


# --- NetworkPolicy evaluation ------------------------------------------------------------


@dataclass(frozen=True)
class PodRef:
    labels: dict[str, str]
    namespace: str = NAMESPACE
    namespace_labels: tuple[tuple[str, str], ...] = ()

    def ns_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace, **dict(self.namespace_labels)}


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def peer_matches(peer: dict[str, Any], pod: PodRef, policy_ns: str) -> bool:
    if "ipBlock" in peer:
        return False  # pod-to-pod traffic is judged by selectors only
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], pod.ns_labels()):
            return False
    elif pod.namespace != policy_ns:
        return False
    return selector_matches(peer.get("podSelector"), pod.labels)


def port_matches(rule: dict[str, Any], port: int, named: dict[str, int]) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != "TCP":
            continue
        value = p.get("port")
        if value is None or value == port or (isinstance(value, str) and named.get(value) == port):
            return True
    return False


def rule_admits(
    rule: dict[str, Any], key: str, peer: PodRef, policy_ns: str, port: int, named: dict[str, int]
) -> bool:
    peers = rule.get(key)
    if peers is not None and not any(peer_matches(p, peer, policy_ns) for p in peers):
        return False
    return port_matches(rule, port, named)


def allowed(
    policies: list[dict[str, Any]],
    src: PodRef,
    dst: PodRef,
    port: int,
    named: dict[str, int] | None = None,
) -> tuple[bool, str]:
    """Whether NetworkPolicies let src open a TCP connection to dst:port."""
    named = named or {}
    egress = [
        p
        for p in policies
        if p["metadata"].get("namespace", NAMESPACE) == src.namespace
        and "Egress" in p["spec"].get("policyTypes", [])
        and selector_matches(p["spec"]["podSelector"], src.labels)
    ]
    if egress and not any(
        rule_admits(r, "to", dst, p["metadata"]["namespace"], port, named)
        for p in egress
        for r in p["spec"].get("egress") or []
    ):
        return (
            False,
            f"egress from {src.labels.get('app.kubernetes.io/name')} denied by {[p['metadata']['name'] for p in egress]}",
        )
    ingress = [
        p
        for p in policies
        if p["metadata"].get("namespace", NAMESPACE) == dst.namespace
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and selector_matches(p["spec"]["podSelector"], dst.labels)
    ]
    if ingress and not any(
        rule_admits(r, "from", src, p["metadata"]["namespace"], port, named)
        for p in ingress
        for r in p["spec"].get("ingress") or []
    ):
        return (
            False,
            f"ingress to {dst.labels.get('app.kubernetes.io/name')} denied by {[p['metadata']['name'] for p in ingress]}",
        )
    return True, "allowed"


def dockerfile(service: str) -> str:
    path = ROOT / "services" / service / "Dockerfile"
    assert path.exists(), f"services/{service}/Dockerfile is missing"
    return path.read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def settings_class(service: str) -> type:
    """The service's settings dataclass (the one inheriting ServiceSettings)."""
    src = str(ROOT / "services" / service / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    from deepiri_kit.settings import ServiceSettings

    module = importlib.import_module(f"{service.replace('-', '_')}.settings")
    classes = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, ServiceSettings)
        and c is not ServiceSettings
        and c.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{service}: expected one settings class, found {classes}"
    return classes[0]
