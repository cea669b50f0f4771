"""challenge-service's app on the harness's servers; the shared fixtures (tests/conftest.py) call it
in-process (``client``) or start the service as a process (``service_process``)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from challenge_service.app import create_app
from challenge_service.settings import ChallengeSettings
from deepiri_kit import load_settings


@pytest.fixture
def app(service_env: dict[str, Any]) -> Litestar:
    settings = load_settings(ChallengeSettings, {}, **service_env)
    return create_app(settings)
