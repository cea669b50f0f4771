from __future__ import annotations

from dataclasses import dataclass

import pytest

from deepiri_kit.settings import (
    InfluxSettings,
    MongoSettings,
    RedisSettings,
    ServiceSettings,
    SettingsError,
    load_settings,
    redacted,
)

pytestmark = pytest.mark.unit


@dataclass(frozen=True, kw_only=True)
class Demo(ServiceSettings, MongoSettings, RedisSettings, InfluxSettings):
    service_name: str = "demo-service"
    port: int = 5555


def test_env_names_are_the_seeds_and_values_are_typed() -> None:
    s = load_settings(
        Demo,
        {
            "PORT": "7000",
            "REDIS_HOST": "cache",
            "MONGO_URI": "mongodb://m/",
            "INFLUXDB_URL": "http://i",
        },
    )
    assert s.port == 7000
    assert s.redis_host == "cache"
    assert s.mongo_uri == "mongodb://m/"
    assert s.influxdb_url == "http://i"


def test_invalid_values_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="PORT"):
        load_settings(Demo, {"PORT": "eighty"})
    with pytest.raises(SettingsError, match="DEEPIRI_ENV"):
        load_settings(Demo, {"DEEPIRI_ENV": "prod"})


def test_production_refuses_default_or_empty_secrets() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(Demo, {"DEEPIRI_ENV": "production", "INFLUXDB_TOKEN": "deepiri-dev-token"})
    message = str(info.value)
    for name in ("MONGO_URI", "REDIS_PASSWORD", "INFLUXDB_TOKEN"):
        assert name in message


def test_seed_node_env_is_honoured() -> None:
    with pytest.raises(SettingsError, match="refusing to start in production"):
        load_settings(Demo, {"NODE_ENV": "production"})


def test_production_starts_with_real_secrets_and_logs_them_redacted() -> None:
    s = load_settings(
        Demo,
        {
            "DEEPIRI_ENV": "production",
            "MONGO_URI": "mongodb://app:s3cret@mongo:27017/",
            "REDIS_PASSWORD": "r3dis",
            "INFLUXDB_TOKEN": "t0ken",
        },
    )
    assert s.production
    shown = redacted(s)
    assert shown["mongo_uri"] == shown["redis_password"] == shown["influxdb_token"] == "***"
    assert "s3cret" not in repr(shown)


def test_development_runs_with_defaults() -> None:
    assert load_settings(Demo, {}).deepiri_env == "development"
