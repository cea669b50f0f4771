"""Every service that exists (tools/known_services.py: a services/<name>-service directory) is
listed in every place that cannot derive it: the chart, skaffold, production values, its
docs — and, once in the standard module set, has the whole set and its tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from known_services import NOT_YET_RESHAPED, ROOT, Service, services

pytestmark = pytest.mark.unit
CHART = ROOT / "charts" / "deepiri"
# README "Where code goes": what every service in the standard module set has.
MODULE_SET = (
    "__init__.py",
    "__main__.py",
    "app.py",
    "settings.py",
    "api/__init__.py",
    "schemas.py",
    "service.py",
    "domain/__init__.py",
    "store/__init__.py",
    "events/__init__.py",
    "events/publish.py",
    "events/consume.py",
    "workers.py",
    "cli.py",
)
SERVICES = services()


def load(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text())


def test_services_are_found_and_the_exemptions_are_real() -> None:
    names = {s.name for s in SERVICES}
    assert {"task-service", "gamification-service"} <= names
    assert names >= NOT_YET_RESHAPED, "NOT_YET_RESHAPED names a service that does not exist"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_service_files(service: Service) -> None:
    for name in ("Dockerfile", "pyproject.toml", "requirements.txt"):
        assert (service.path / name).is_file(), f"services/{service.name}/{name} is missing"
    assert (ROOT / "docs" / "services" / f"{service.name}.md").is_file(), (
        f"docs/services/{service.name}.md is missing"
    )


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_dockerfile_is_the_generators(service: Service) -> None:
    # Every image is built the same way: a Dockerfile per service (what skaffold, Tilt and
    # `make images` build) is the generator's template with the service's names and port, so
    # a change to how images are built is made once, in the template, and lands everywhere.
    template = ROOT / "tools" / "service_template" / "services" / "{{service}}" / "Dockerfile.tmpl"
    port = load("charts/deepiri/values.yaml")[service.name]["port"]
    names = {"service": service.name, "module": service.module, "port": str(port)}
    expected = re.sub(r"\{\{(\w+)\}\}", lambda m: names[m.group(1)], template.read_text())
    assert (service.path / "Dockerfile").read_text() == expected, (
        f"services/{service.name}/Dockerfile differs from the generator's template: change the"
        " template (tools/service_template) and re-render every service's Dockerfile"
    )


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_chart_lists_and_enables_the_service(service: Service) -> None:
    aliases = [d["alias"] for d in load("charts/deepiri/Chart.yaml")["dependencies"]]
    assert aliases.count(service.name) == 1, "one charts/deepiri/Chart.yaml dependency"
    entry = load("charts/deepiri/values.yaml").get(service.name) or {}
    assert entry.get("enabled") is True, "enabled in charts/deepiri/values.yaml"
    assert {"port", "prefix", "datastores"} <= set(entry), "port, prefix, datastores in values"
    prod = load("charts/deepiri/values-prod.yaml").get(service.name) or {}
    assert prod.get("autoscaling", {}).get("minReplicas", 0) >= 2, (
        "values-prod.yaml runs at least two replicas"
    )


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_skaffold_builds_and_deploys_the_service(service: Service) -> None:
    config = load("skaffold.yaml")
    image = f"deepiri/{service.name}"
    [artifact] = [a for a in config["build"]["artifacts"] if a["image"] == image]
    assert artifact["docker"]["dockerfile"] == f"services/{service.name}/Dockerfile"
    releases = [config["deploy"]["helm"]["releases"][0]] + [
        p["deploy"]["helm"]["releases"][0] for p in config["profiles"] if "deploy" in p
    ]
    for release in releases:
        assert f"{service.name}.image.tag" in release["setValueTemplates"]
        assert f"{service.name}.image.repository" in release["setValueTemplates"]


@pytest.mark.parametrize("service", [s for s in SERVICES if s.reshaped], ids=lambda s: s.name)
def test_reshaped_service_has_the_module_set_and_its_tests(service: Service) -> None:
    missing = [m for m in MODULE_SET if not _present(service.package, m)]
    assert not missing, f"{service.module} lacks {missing} (README: Where code goes)"
    tests = ROOT / "tests" / service.base
    assert (tests / "__init__.py").is_file(), f"tests/{service.base}/ is missing"
    assert list(tests.glob("test_*.py")), f"tests/{service.base}/ has no tests"


def _present(package: Path, module: str) -> bool:
    """``x.py`` may grow into a package ``x/`` (as user-service's ``service`` did)."""
    if (package / module).is_file():
        return True
    stem = module.removesuffix(".py")
    return module.endswith(".py") and "/" not in stem and (package / stem / "__init__.py").is_file()


def test_chart_lock_is_current() -> None:
    """Chart.lock locks exactly Chart.yaml's dependencies (helm's digest over both)."""
    from new_service import lock_digest

    requested = load("charts/deepiri/Chart.yaml")["dependencies"]
    lock = load("charts/deepiri/Chart.lock")
    assert len(lock["dependencies"]) == len(requested)
    assert lock["digest"] == lock_digest(requested, lock["dependencies"])


def test_no_hand_kept_list_of_services() -> None:
    """The places that used to list services by hand derive them instead."""
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    aliases = [d["alias"] for d in load("charts/deepiri/Chart.yaml")["dependencies"]]
    listed = [k for k, v in schema["properties"].items() if v == {"$ref": "#/$defs/service"}]
    assert sorted(listed) == sorted(aliases)
    for path in ("charts/values_schema.py", "tools/dev.py", "tools/bootstrap.sh", "Tiltfile"):
        text = (ROOT / path).read_text()
        assert '"task-service"' not in text, f"{path} names a service"
        assert "'task-service'" not in text, f"{path} names a service"
