"""notification-service's app on the harness's servers; the shared fixtures (tests/conftest.py)
call it in-process (``client``) or start the service as a process (``service_process``).
Each test gets its own Socket.IO channel and a local SMTP relay."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar

from deepiri_kit import load_settings
from notification_service.app import create_app
from notification_service.settings import NotificationSettings
from support.smtp import SmtpRelay


@pytest.fixture
def socket_channel() -> str:
    return f"socketio-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def smtp() -> Iterator[SmtpRelay]:
    with SmtpRelay() as relay:
        yield relay


@pytest.fixture
def notification_env(
    service_env: dict[str, Any], socket_channel: str, smtp: SmtpRelay
) -> dict[str, Any]:
    return {
        **service_env,
        **smtp.settings(),
        "socket_channel": socket_channel,
        # Quick retries and sweeps: tests wait for them.
        "delivery_interval_seconds": 0.2,
        "delivery_min_age_seconds": 0.5,
        "delivery_retry_first_seconds": 0.2,
        "delivery_retry_limit_seconds": 1.0,
    }


@pytest.fixture
def app(notification_env: dict[str, Any]) -> Litestar:
    return create_app(load_settings(NotificationSettings, {}, **notification_env))
