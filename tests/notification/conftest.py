"""notification-service's app on the harness's servers; the shared fixtures (tests/conftest.py) call it
in-process (``client``) or start the service as a process (``service_process``)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from deepiri_kit import load_settings
from notification_service.app import create_app
from notification_service.settings import NotificationSettings


@pytest.fixture
def app(service_env: dict[str, Any]) -> Litestar:
    settings = load_settings(NotificationSettings, {}, **service_env)
    return create_app(settings)
