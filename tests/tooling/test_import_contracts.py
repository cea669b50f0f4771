"""The import contracts in `make lint` hold for the repository and for a generated service,
and break on each kind of deliberate violation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import import_contracts
import new_service
from known_services import ROOT, reshaped

pytestmark = pytest.mark.unit
MODULE = "sample_service"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kit and a service rendered from the generator's template, in a scratch tree."""
    root = tmp_path_factory.mktemp("contracts")
    shutil.copytree(ROOT / "services" / "kit" / "src", root / "services" / "kit" / "src")
    patch = pytest.MonkeyPatch()
    patch.setattr(new_service, "ROOT", root)
    try:
        spec = new_service.parse_spec("sample", 5090, "/api/sample")
        new_service.render_template(new_service.substitutions(spec, ["mongo", "redis"]))
    finally:
        patch.undo()
    return root


def package(root: Path) -> Path:
    return root / "services" / "sample-service" / "src" / MODULE


def test_the_repository_keeps_its_contracts() -> None:
    result = import_contracts.check(ROOT, [s.module for s in reshaped()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_generated_service_keeps_every_contract(generated: Path) -> None:
    result = import_contracts.check(generated, [MODULE])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")
    for contract in ("public API", "flow down", "domain/", "cycles"):
        assert contract in result.stdout


@pytest.mark.parametrize(
    ("edits", "broken"),
    [
        ({"domain/items.py": "import litestar"}, "domain/ imports no framework"),
        (
            {"domain/items.py": "from deepiri_kit.events import Envelope"},
            "domain/ imports no framework",
        ),
        ({"store/items.py": f"from {MODULE} import service"}, "imports flow down"),
        ({"service.py": f"from {MODULE}.api import ROUTES"}, "imports flow down"),
        ({"service.py": "from deepiri_kit.retry import backoff"}, "public API"),
        ({"events/publish.py": "from deepiri_kit.events.outbox import OUTBOX"}, "public API"),
        # Siblings importing each other (same layer: only the cycle contract can refuse it).
        (
            {
                "events/publish.py": f"from {MODULE}.events import consume",
                "events/consume.py": f"from {MODULE}.events import publish",
            },
            "no import cycles",
        ),
    ],
    ids=[
        "framework-in-domain",
        "kit-io-in-domain",
        "store-up",
        "service-up",
        "deep-kit",
        "deep-kit-2",
        "cycle",
    ],
)
def test_a_deliberate_violation_fails_the_check(
    generated: Path, tmp_path: Path, edits: dict[str, str], broken: str
) -> None:
    root = tmp_path / "tree"
    shutil.copytree(generated, root)
    for module, line in edits.items():
        target = package(root) / module
        target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = import_contracts.check(root, [MODULE])
    assert result.returncode == 1, result.stdout
    report = result.stdout.split("Broken contracts", 1)[-1]
    assert broken in report, result.stdout
