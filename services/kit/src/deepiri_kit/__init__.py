"""Deepiri's shared service kit: everything nine services would otherwise copy."""

from deepiri_kit.app import Wiring, create_app, from_state
from deepiri_kit.auth import Principal, requires_scopes
from deepiri_kit.platform import Platform, retry_startup
from deepiri_kit.settings import (
    InfluxSettings,
    MongoSettings,
    RedisSettings,
    Secret,
    ServiceSettings,
    load_settings,
)
from deepiri_kit.workers import Worker, pause

__all__ = [
    "InfluxSettings",
    "MongoSettings",
    "Platform",
    "Principal",
    "RedisSettings",
    "Secret",
    "ServiceSettings",
    "Wiring",
    "Worker",
    "create_app",
    "from_state",
    "load_settings",
    "pause",
    "requires_scopes",
    "retry_startup",
]
