from __future__ import annotations

from dataclasses import dataclass

import pytest

from deepiri_kit.settings import (
    InfluxSettings,
    MongoSettings,
    OptionalSecret,
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


@dataclass(frozen=True, kw_only=True)
class WithOptional(ServiceSettings):
    service_name: str = "optional-service"
    port: int = 5556
    provider_key: OptionalSecret = ""


def test_an_optional_secret_may_be_absent_in_production_and_is_never_logged() -> None:
    production = {"DEEPIRI_ENV": "production"}
    assert load_settings(WithOptional, production).provider_key == ""
    s = load_settings(WithOptional, {**production, "PROVIDER_KEY": "sk-live-123"})
    assert redacted(s)["provider_key"] == "***"
    assert "sk-live-123" not in repr(redacted(s))


def test_development_runs_with_defaults() -> None:
    assert load_settings(Demo, {}).deepiri_env == "development"


def test_forwarded_headers_are_trusted_from_loopback_only_unless_configured() -> None:
    assert load_settings(Demo, {}).forwarded_allow_ips == "127.0.0.1"
    ranges = "10.42.0.0/16,10.43.0.0/16"
    assert load_settings(Demo, {"FORWARDED_ALLOW_IPS": ranges}).forwarded_allow_ips == ranges
    with pytest.raises(SettingsError, match="FORWARDED_ALLOW_IPS"):
        load_settings(Demo, {"FORWARDED_ALLOW_IPS": "*"})


def test_every_datastore_call_is_bounded_by_configurable_timeouts() -> None:
    s = load_settings(Demo, {"MONGO_SOCKET_TIMEOUT_SECONDS": "2.5"})
    assert s.mongo_socket_timeout_seconds == 2.5
    for name in (
        "mongo_connect_timeout_seconds",
        "mongo_server_selection_timeout_seconds",
        "redis_connect_timeout_seconds",
        "redis_socket_timeout_seconds",
        "rate_limit_timeout_seconds",
        "influxdb_timeout_seconds",
    ):
        assert 0 < getattr(s, name) <= 10, name


def test_fail_points_are_refused_in_production() -> None:
    secrets = {"MONGO_URI": "mongodb://m/", "REDIS_PASSWORD": "p", "INFLUXDB_TOKEN": "t"}
    env = {"DEEPIRI_ENV": "production", "DEEPIRI_FAILPOINTS": "x", **secrets}
    with pytest.raises(SettingsError, match="DEEPIRI_FAILPOINTS"):
        load_settings(Demo, env)
