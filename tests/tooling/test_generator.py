"""The generator's edits to the places that list services, on copies of the real files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

import new_service
from known_services import ROOT, Service
from new_service import GeneratorError, parse_spec

pytestmark = pytest.mark.unit


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The chart's values, Chart.yaml and skaffold.yaml copied; the generator pointed there."""
    chart = tmp_path / "charts" / "deepiri"
    chart.mkdir(parents=True)
    for name in ("Chart.yaml", "Chart.lock", "values.yaml", "values-prod.yaml"):
        shutil.copy(ROOT / "charts" / "deepiri" / name, chart / name)
    shutil.copy(ROOT / "skaffold.yaml", tmp_path / "skaffold.yaml")
    monkeypatch.setattr(new_service, "ROOT", tmp_path)
    monkeypatch.setattr(new_service, "CHART", chart)
    return tmp_path


def values(repo: Path, name: str = "values.yaml") -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((repo / "charts" / "deepiri" / name).read_text())
    return loaded


def test_an_existing_switched_off_entry_is_enabled_not_duplicated(repo: Path) -> None:
    before = (repo / "charts" / "deepiri" / "values.yaml").read_text()
    spec = parse_spec("analytics", 5104, "/api/stats")
    existed, datastores = new_service.enable_values_block(spec)
    assert existed
    assert datastores == ["mongo", "redis", "influx"], "the entry's influx is kept"
    after = (repo / "charts" / "deepiri" / "values.yaml").read_text()
    assert len(re.findall(r"(?m)^analytics-service:", after)) == 1
    assert values(repo)["analytics-service"] == {
        "enabled": True,
        "port": 5104,
        "prefix": "/api/stats",
        "datastores": ["mongo", "redis", "influx"],
    }
    assert not new_service.add_chart_dependency(spec.service), "already a dependency"
    # Nothing else in the file moved.
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        ("  enabled: false", "  enabled: true"),
        ("  port: 5004", "  port: 5104"),
        ("  prefix: /api/analytics", "  prefix: /api/stats"),
    ]


def test_a_new_service_is_added_to_chart_prod_values_and_skaffold(repo: Path) -> None:
    spec = parse_spec("sample-thing", 5090, "/api/sample")
    existed, datastores = new_service.enable_values_block(spec)
    assert not existed
    assert datastores == ["mongo", "redis"]
    assert new_service.add_chart_dependency(spec.service)
    new_service.update_chart_lock()
    lock = yaml.safe_load((repo / "charts" / "deepiri" / "Chart.lock").read_text())
    assert len(lock["dependencies"]) == 10
    assert lock["digest"] == new_service.lock_digest(
        yaml.safe_load((repo / "charts" / "deepiri" / "Chart.yaml").read_text())["dependencies"],
        lock["dependencies"],
    )
    new_service.add_prod_replicas(spec.service)
    new_service.add_skaffold_artifact(spec.service)
    new_service.add_skaffold_artifact(spec.service)  # idempotent
    chart = yaml.safe_load((repo / "charts" / "deepiri" / "Chart.yaml").read_text())
    assert chart["dependencies"][-1] == {
        "name": "deepiri-service",
        "alias": "sample-thing-service",
        "version": "0.1.0",
        "condition": "sample-thing-service.enabled",
    }
    entries = list(values(repo))
    assert entries.index("sample-thing-service") == entries.index("ai-service") + 1
    assert values(repo)["sample-thing-service"]["enabled"] is True  # type: ignore[index]
    assert values(repo, "values-prod.yaml")["sample-thing-service"] == {
        "autoscaling": {"minReplicas": 2, "maxReplicas": 10}
    }
    skaffold = yaml.safe_load((repo / "skaffold.yaml").read_text())
    images = [a["image"] for a in skaffold["build"]["artifacts"]]
    assert images.count("deepiri/sample-thing-service") == 1
    templates = skaffold["deploy"]["helm"]["releases"][0]["setValueTemplates"]
    key = "deepiri_sample_thing_service"
    assert templates["sample-thing-service.image.tag"] == f"{{{{.IMAGE_TAG_{key}}}}}"
    for profile in skaffold["profiles"]:  # the profiles share the anchor
        if "deploy" in profile:
            assert (
                "sample-thing-service.image.tag"
                in (profile["deploy"]["helm"]["releases"][0]["setValueTemplates"])
            )


def test_a_port_or_prefix_in_use_is_refused_before_anything_is_written(repo: Path) -> None:
    before = (repo / "charts" / "deepiri" / "values.yaml").read_text()
    with pytest.raises(GeneratorError, match="task-service"):
        new_service.enable_values_block(parse_spec("sample", 5002, "/api/sample"))
    with pytest.raises(GeneratorError, match="gamification-service"):
        new_service.enable_values_block(parse_spec("sample", 5090, "/api/gamification"))
    assert (repo / "charts" / "deepiri" / "values.yaml").read_text() == before


def test_an_existing_service_is_refused() -> None:
    """Checked before anything is written (this runs against the real repository)."""
    with pytest.raises(GeneratorError, match="services/task-service exists already"):
        new_service.generate(parse_spec("task", 5002, "/api/tasks"), compile_requirements=False)


@pytest.mark.parametrize(
    ("name", "port", "prefix"),
    [
        ("Bad_Name", "5090", "/api/x"),
        ("ok", "80", "/api/x"),
        ("ok", "five", "/api/x"),
        ("ok", "5090", "api/x"),
        ("ok", "5090", "/api/x/"),
    ],
)
def test_bad_arguments_are_refused(name: str, port: str, prefix: str) -> None:
    with pytest.raises(GeneratorError):
        parse_spec(name, port, prefix)


def test_the_template_dockerfile_is_the_existing_services(tmp_path: Path) -> None:
    """Rendered for task-service, the template is task-service's Dockerfile, byte for byte."""
    task = Service("task-service")
    subs = new_service.substitutions(parse_spec("task", 5002, "/api/tasks"), ["mongo", "redis"])
    template = new_service.TEMPLATE / "services" / "{{service}}" / "Dockerfile.tmpl"
    assert new_service.render(template.read_text(), subs) == (task.path / "Dockerfile").read_text()


def test_names_are_derived_consistently() -> None:
    subs = new_service.substitutions(parse_spec("sample-thing-service", 5090, "/x"), ["mongo"])
    assert (subs["service"], subs["module"], subs["base"], subs["Name"]) == (
        "sample-thing-service",
        "sample_thing_service",
        "sample-thing",
        "SampleThing",
    )
    assert subs["settings_bases"] == "ServiceSettings, MongoSettings"
