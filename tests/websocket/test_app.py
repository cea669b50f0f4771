"""How the app wires its parts, without servers."""

from __future__ import annotations

import pytest

from deepiri_kit import load_settings
from websocket_service.app import redis_url
from websocket_service.settings import WebsocketSettings

pytestmark = pytest.mark.unit


def test_the_managers_redis_url_carries_the_password_safely() -> None:
    plain = load_settings(WebsocketSettings, {}, redis_host="r", redis_port=6380, redis_db=2)
    assert redis_url(plain) == "redis://r:6380/2"
    secret = load_settings(WebsocketSettings, {}, redis_host="r", redis_password="p@ss:/w#")
    assert redis_url(secret) == "redis://:p%40ss%3A%2Fw%23@r:6379/0"
