"""The test suite's own shape (docs/development.md, "The test harness"): fixtures in
conftests, helpers in tests/support, and no test module importing another test module or a
conftest — so a helper exists once and every package finds it in the same place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from known_services import ROOT

pytestmark = pytest.mark.unit
TESTS = ROOT / "tests"
# Modules beside the tests that are neither tests nor shared helpers: a script run as a
# process of its own, the cluster suite's helpers (it runs apart, with -m e2e) and the hooks
# module schemathesis loads by path in the fuzzing run.
NOT_HELPERS = {
    "kit/chain_crash_producer.py",
    "e2e/helpers.py",
    "e2e/load.py",
    "system/schemathesis_hooks.py",
}


def modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if ".venv" not in p.parts)


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    offenders = {
        str(path.relative_to(TESTS)): sorted(n for n in imported(path) if is_test_module(n))
        for path in modules()
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_conftests_hold_fixtures_and_hooks_only() -> None:
    for path in TESTS.rglob("conftest.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                fixture = any("fixture" in ast.unparse(d) for d in node.decorator_list)
                # A private function only the conftest's own fixtures call is fine.
                assert fixture or node.name.startswith(("pytest_", "_")), (
                    f"{path.relative_to(TESTS)}: {node.name} is a helper: move it to tests/support"
                )
            assert not isinstance(node, ast.ClassDef), (
                f"{path.relative_to(TESTS)}: class {node.name} belongs in tests/support"
            )


def test_helpers_live_in_tests_support() -> None:
    stray = [
        rel
        for path in modules()
        if (rel := str(path.relative_to(TESTS))).count("/")
        and not rel.startswith("support/")
        and not is_test_module(path.stem)
        and path.name != "__init__.py"
        and rel not in NOT_HELPERS
    ]
    assert not stray, f"helpers outside tests/support: {stray}"
