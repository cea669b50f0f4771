#!/usr/bin/env python3
"""``make new-service NAME=analytics PORT=5004 PREFIX=/api/analytics``: a new service in the
standard module set (README "Where code goes"), with a small working example resource, and
every place that must list it.

Writes, from tools/service_template/:
  services/<name>-service/   Dockerfile, pyproject.toml, src/<name>_service/ (app, settings,
                             api/, schemas, service, domain/, store/, events/, workers, cli)
  services/kit/src/deepiri_kit/contracts/<name>.py
                             its stream's event contract (events.<name>), declared in the kit
  tests/<name>/              the service's tests on the shared fixtures (tests/conftest.py)
  docs/services/<name>-service.md
and updates: the chart (Chart.yaml dependency and values.yaml block — an existing, switched-off
block is enabled and adjusted, never duplicated — plus values-prod.yaml's replicas),
skaffold.yaml (artifact and image values), the values schema, the chart's README table, the
pinned requirements, the golden renders, and the editable install in .venv. Tilt, `make dev`,
mypy, the import contracts and tools/bootstrap.sh find the service by its directory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "tools" / "service_template"
CHART = ROOT / "charts" / "deepiri"
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
# What the example resource uses; a chart entry may add more (influx), never fewer.
TEMPLATE_DATASTORES = ("mongo", "redis")
DATASTORE_ORDER = ("mongo", "redis", "influx")
MIXINS = {"mongo": "MongoSettings", "redis": "RedisSettings", "influx": "InfluxSettings"}


class GeneratorError(Exception):
    pass


@dataclass(frozen=True)
class Spec:
    base: str  # analytics
    port: int
    prefix: str

    @property
    def service(self) -> str:
        return f"{self.base}-service"

    @property
    def module(self) -> str:
        return self.service.replace("-", "_")


def parse_spec(name: str, port: str | int, prefix: str) -> Spec:
    base = name.strip().removesuffix("-service")
    if not NAME_RE.match(base):
        raise GeneratorError(f"NAME {name!r}: lower-case words joined by '-' (e.g. analytics)")
    try:
        number = int(port)
    except ValueError:
        raise GeneratorError(f"PORT {port!r} is not a number") from None
    if not 1024 <= number <= 65535:
        raise GeneratorError(f"PORT {number}: choose 1024-65535")
    if not PREFIX_RE.match(prefix):
        raise GeneratorError(f"PREFIX {prefix!r}: a path such as /api/{base}")
    return Spec(base, number, prefix)


# --- YAML edited as text, so comments and layout survive --------------------------------


def top_level_blocks(lines: list[str]) -> dict[str, tuple[int, int]]:
    """Top-level key → (first line, line after its last indented line)."""
    blocks: dict[str, tuple[int, int]] = {}
    keys = [
        (i, m.group(1))
        for i, line in enumerate(lines)
        if (m := re.match(r"^([A-Za-z0-9_.-]+):", line))
    ]
    for i, key in keys:
        end = i + 1
        j = i + 1
        while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
            if lines[j].strip():
                end = j + 1
            j += 1
        blocks[key] = (i, end)
    return blocks


def chart_services() -> list[str]:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return [d["alias"] for d in chart["dependencies"]]


def add_chart_dependency(service: str) -> bool:
    if service in chart_services():
        return False
    path = CHART / "Chart.yaml"
    text = path.read_text().rstrip("\n") + "\n"
    text += (
        f"  - name: deepiri-service\n    alias: {service}\n    version: 0.1.0\n"
        f"    condition: {service}.enabled\n"
    )
    path.write_text(text)
    assert service in chart_services()
    return True


def lock_digest(requested: list[dict[str, object]], locked: list[dict[str, object]]) -> str:
    """Helm's Chart.lock digest: sha256 of the JSON of [Chart.yaml deps, lock deps], each
    encoded as Go encodes chart.Dependency (field order, empty fields omitted)."""

    def go(dep: dict[str, object]) -> dict[str, object]:
        out: dict[str, object] = {"name": dep["name"]}
        if dep.get("version"):
            out["version"] = dep["version"]
        out["repository"] = dep.get("repository", "")
        for key in ("condition", "tags", "enabled", "import-values", "alias"):
            if dep.get(key):
                out[key] = dep[key]
        return out

    data = json.dumps([[go(d) for d in requested], [go(d) for d in locked]], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def update_chart_lock() -> None:
    """What `helm dependency update` writes, without fetching anything: one locked entry per
    Chart.yaml dependency (all are the local deepiri-service chart) and the digest."""
    requested = yaml.safe_load((CHART / "Chart.yaml").read_text())["dependencies"]
    locked = [
        {"name": d["name"], "repository": d.get("repository", ""), "version": d["version"]}
        for d in requested
    ]
    lines = ["dependencies:"]
    for d in locked:
        lines += [f"- name: {d['name']}", '  repository: ""', f"  version: {d['version']}"]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    lines += [f"digest: {lock_digest(requested, locked)}", f'generated: "{stamp}"']
    (CHART / "Chart.lock").write_text("\n".join(lines) + "\n")


def set_field(block: list[str], key: str, value: str) -> list[str]:
    """Set ``  key: value`` in a service block (its first line is ``name:``)."""
    for i, line in enumerate(block):
        if re.match(rf"^  {re.escape(key)}:", line):
            block[i] = f"  {key}: {value}"
            return block
    return [block[0], f"  {key}: {value}", *block[1:]]


def enable_values_block(spec: Spec) -> tuple[bool, list[str]]:
    """Enable (and adjust) the service's block in values.yaml, or add one after the last
    service block. Returns (existed, datastores)."""
    path = CHART / "values.yaml"
    lines = path.read_text().splitlines()
    values = yaml.safe_load(path.read_text())
    for other in chart_services():
        entry = values.get(other) or {}
        if other == spec.service or not entry.get("enabled"):
            continue
        if entry.get("port") == spec.port:
            raise GeneratorError(f"port {spec.port} is {other}'s")
        if entry.get("prefix") == spec.prefix:
            raise GeneratorError(f"prefix {spec.prefix} is {other}'s")
    existing = values.get(spec.service)
    declared = set((existing or {}).get("datastores", [])) | set(TEMPLATE_DATASTORES)
    datastores = [d for d in DATASTORE_ORDER if d in declared]
    blocks = top_level_blocks(lines)
    if existing is not None:
        start, end = blocks[spec.service]
        block = lines[start:end]
        block = set_field(block, "enabled", "true")
        block = set_field(block, "port", str(spec.port))
        block = set_field(block, "prefix", spec.prefix)
        block = set_field(block, "datastores", f"[{', '.join(datastores)}]")
        lines[start:end] = block
    else:
        after = max(blocks[s][1] for s in chart_services() if s in blocks)
        lines[after:after] = [
            f"{spec.service}:",
            "  enabled: true",
            f"  port: {spec.port}",
            f"  prefix: {spec.prefix}",
            f"  datastores: [{', '.join(datastores)}]",
        ]
    path.write_text("\n".join(lines) + "\n")
    written = yaml.safe_load(path.read_text())[spec.service]
    assert written["enabled"] is True, written
    assert written["port"] == spec.port, written
    return existing is not None, datastores


def add_prod_replicas(service: str) -> None:
    """Production runs at least two of everything (values-prod.yaml)."""
    path = CHART / "values-prod.yaml"
    lines = path.read_text().splitlines()
    blocks = top_level_blocks(lines)
    if service in blocks:
        return
    services = [s for s in chart_services() if s in blocks]
    after = max(blocks[s][1] for s in services) if services else len(lines)
    lines[after:after] = [
        f"{service}:",
        "  autoscaling:",
        "    minReplicas: 2",
        "    maxReplicas: 10",
    ]
    path.write_text("\n".join(lines) + "\n")


def add_skaffold_artifact(service: str) -> None:
    path = ROOT / "skaffold.yaml"
    config = yaml.safe_load(path.read_text())
    image = f"deepiri/{service}"
    if any(a["image"] == image for a in config["build"]["artifacts"]):
        return
    lines = path.read_text().splitlines()

    def end_of(index: int) -> int:
        indent = len(lines[index]) - len(lines[index].lstrip())
        j = index + 1
        while j < len(lines) and (
            not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent
        ):
            j += 1
        while not lines[j - 1].strip():
            j -= 1
        return j

    key = image.replace("/", "_").replace("-", "_")
    templates = next(i for i, line in enumerate(lines) if "setValueTemplates: &" in line)
    at = end_of(templates)
    pad = " " * (len(lines[templates]) - len(lines[templates].lstrip()) + 2)
    lines[at:at] = [
        f'{pad}{service}.image.repository: "{{{{.IMAGE_REPO_{key}}}}}"',
        f'{pad}{service}.image.tag: "{{{{.IMAGE_TAG_{key}}}}}"',
    ]
    artifacts = next(i for i, line in enumerate(lines) if line.strip() == "artifacts:")
    at = end_of(artifacts)
    pad = " " * (len(lines[artifacts]) - len(lines[artifacts].lstrip()) + 2)
    lines[at:at] = [
        f"{pad}- image: {image}",
        f"{pad}  context: .",
        f"{pad}  docker:",
        f"{pad}    dockerfile: services/{service}/Dockerfile",
    ]
    path.write_text("\n".join(lines) + "\n")
    config = yaml.safe_load(path.read_text())
    assert any(a["image"] == image for a in config["build"]["artifacts"])
    assert f"{service}.image.tag" in config["deploy"]["helm"]["releases"][0]["setValueTemplates"]


# --- files from the template ------------------------------------------------------------


def substitutions(spec: Spec, datastores: list[str]) -> dict[str, str]:
    mixins = [MIXINS[d] for d in datastores]
    influx = "influx" in datastores
    return {
        "service": spec.service,
        "module": spec.module,
        "base": spec.base,
        "base_underscore": spec.base.replace("-", "_"),
        "Name": "".join(part.capitalize() for part in spec.base.split("-")),
        "port": str(spec.port),
        "prefix": spec.prefix,
        "kit_extras": ",".join(datastores),
        "settings_imports": ", ".join(sorted([*mixins, "ServiceSettings"])),
        "settings_bases": ", ".join(["ServiceSettings", *mixins]),
        "influx_param": ", influx_server: Any" if influx else "",
        "influx_overrides": (
            ", **{k.lower(): v for k, v in influx_server.env().items()}" if influx else ""
        ),
        "influx_process": ", influx=True" if influx else "",
    }


def render(text: str, subs: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: subs[m.group(1)], text)


def template_targets(subs: dict[str, str]) -> dict[Path, Path]:
    """Template file → where it goes."""
    return {
        source: ROOT / render(str(source.relative_to(TEMPLATE)), subs).removesuffix(".tmpl")
        for source in sorted(TEMPLATE.rglob("*.tmpl"))
    }


def render_template(subs: dict[str, str]) -> list[Path]:
    for source, target in template_targets(subs).items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(source.read_text(), subs))
    return list(template_targets(subs).values())


# --- derived files ----------------------------------------------------------------------


def run(cmd: list[str], **env: str) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, env={**os.environ, **env})


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def refresh_derived(service: str, written: list[Path], *, compile_requirements: bool) -> None:
    # Import order and line breaks depend on the names: let the formatter settle them.
    python_files = [str(p.relative_to(ROOT)) for p in written if p.suffix == ".py"]
    run([python(), "-m", "ruff", "check", "-q", "--fix", "--select", "I", *python_files])
    run([python(), "-m", "ruff", "format", "-q", *python_files])
    run([python(), "charts/values_schema.py"])
    run([python(), "tools/chart_docs.py"])
    if compile_requirements:
        run(["bash", "tools/compile-requirements.sh"])
    uv = ROOT / ".venv" / "bin" / "uv"
    if uv.exists():
        install = ["pip", "install", "--python", python(), "-q", "--no-deps"]
        run([str(uv), *install, "--no-build-isolation", "-e", f"services/{service}"])
    # The default render now has one more service: re-record it (review the diff).
    run([python(), "-m", "pytest", "tests/chart", "-q", "-k", "golden"], UPDATE_GOLDEN="1")


def generate(spec: Spec, *, compile_requirements: bool = True) -> list[Path]:
    # Refuse before touching anything: nothing of the service may exist yet.
    for target in [
        ROOT / "services" / spec.service,
        ROOT / "tests" / spec.base,
        *template_targets(substitutions(spec, list(DATASTORE_ORDER))).values(),
    ]:
        if target.exists():
            raise GeneratorError(f"{target.relative_to(ROOT)} exists already")
    existed, datastores = enable_values_block(spec)
    added = add_chart_dependency(spec.service)
    if added:
        update_chart_lock()
    add_prod_replicas(spec.service)
    add_skaffold_artifact(spec.service)
    written = render_template(substitutions(spec, datastores))
    print(
        f"{spec.service}: chart entry {'enabled' if existed else 'added'}"
        f"{' (+ Chart.yaml dependency)' if added else ''}, datastores {datastores}; "
        f"{len(written)} files written"
    )
    refresh_derived(spec.service, written, compile_requirements=compile_requirements)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="e.g. analytics (→ analytics-service)")
    parser.add_argument("--port", required=True, help="the service's port, e.g. 5004")
    parser.add_argument("--prefix", required=True, help="its public prefix, e.g. /api/analytics")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip recompiling the requirements"
    )
    args = parser.parse_args(argv)
    try:
        spec = parse_spec(args.name, args.port, args.prefix)
        generate(spec, compile_requirements=not args.no_compile)
    except GeneratorError as exc:
        print(f"new-service: {exc}", file=sys.stderr)
        return 2
    print(
        f"\nNext: write {spec.module}'s domain and schemas, fill in its use cases, then "
        f"`make test`. Review the golden render diff (tests/chart/golden)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
