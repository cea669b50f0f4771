"""The kit's public API: every public module declares ``__all__`` and exports what it names,
and the list of public modules names only modules that exist."""

from __future__ import annotations

import importlib

import pytest

import import_contracts
from known_services import ROOT

pytestmark = pytest.mark.unit
KIT_SRC = ROOT / "services" / "kit" / "src"


def test_public_modules_exist() -> None:
    assert set(import_contracts.PUBLIC_KIT) <= set(import_contracts.kit_modules(KIT_SRC))


@pytest.mark.parametrize("name", import_contracts.public_kit_modules(KIT_SRC))
def test_every_public_module_declares_all_and_exports_it(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} declares no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
