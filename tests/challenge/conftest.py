"""challenge-service's app on the harness's servers; the shared fixtures (tests/conftest.py) call it
in-process (``client``) or start the service as a process (``service_process``). ai-service
and the token endpoint point at a closed port here: tests that need a generated challenge
seed one through the service's own ``offer`` (tests/system/test_challenges.py generates them
through the real ai-service and user-service)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from challenge_service.app import create_app
from challenge_service.settings import ChallengeSettings
from deepiri_kit import load_settings
from infra import free_port


@pytest.fixture
def app(service_env: dict[str, Any]) -> Litestar:
    closed = f"http://127.0.0.1:{free_port()}"
    settings = load_settings(
        ChallengeSettings,
        {},
        **service_env,
        pyagent_url=closed,
        token_url=f"{closed}/api/users/oauth/token",
        consumer_block_ms=100,
        deadline_interval_seconds=0.2,
    )
    return create_app(settings)
