"""The docs that are derived stay current, and the README's links lead somewhere."""

from __future__ import annotations

import re

import pytest

import chart_docs
from known_services import ROOT

pytestmark = pytest.mark.unit


def module_set(text: str) -> str:
    return text.split("<!-- module-set:start -->", 1)[1].split("<!-- module-set:end -->", 1)[0]


def test_chart_parameter_tables_are_generated_from_the_values_files() -> None:
    current = chart_docs.README.read_text()
    assert chart_docs.updated(current) == current, "run python tools/chart_docs.py"
    for key in ("global.imageRegistry", "autoscaling.minReplicas", "ingress.className"):
        assert f"`{key}`" in current


def test_the_generator_template_documents_the_readmes_module_set() -> None:
    readme = (ROOT / "README.md").read_text()
    template = (ROOT / "tools" / "service_template" / "README.md").read_text()
    assert module_set(readme) == module_set(template)


@pytest.mark.parametrize(
    "doc", ["README.md", "charts/deepiri/README.md", "docs/development.md", "docs/kit.md"]
)
def test_relative_links_resolve(doc: str) -> None:
    path = ROOT / doc
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text()):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{doc} links to missing {target}"
