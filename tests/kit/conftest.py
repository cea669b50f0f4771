"""The kit is tested through a small service built on it (tests/support/sample_app.py)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from deepiri_kit.settings import load_settings
from support.sample_app import SampleSettings, build


@pytest.fixture
def app(service_env: dict[str, Any]) -> Litestar:
    """The sample service on the harness's servers (``client`` calls it in-process)."""
    return build(load_settings(SampleSettings, {}, **service_env))
