"""Typed settings read from environment variables.

A service's settings class inherits the mixins for the datastores it uses; the app factory
reads the same inheritance to decide which clients to open and which dependencies the
readiness probe checks, so "what this service needs" is declared exactly once.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import msgspec


class _SecretMarker:
    """Annotation marker: the value is a credential and must be set explicitly in production."""

    def __repr__(self) -> str:
        return "Secret"


SECRET = _SecretMarker()
Secret = Annotated[str, SECRET]


class _OptionalSecretMarker:
    """Annotation marker: a credential that may be absent (empty switches its feature off,
    e.g. no model endpoint), so production does not insist on it; masked in logs all the same."""

    def __repr__(self) -> str:
        return "OptionalSecret"


OPTIONAL_SECRET = _OptionalSecretMarker()
OptionalSecret = Annotated[str, OPTIONAL_SECRET]

Environment = Literal["development", "test", "production"]


class SettingsError(ValueError):
    """The environment does not describe a valid configuration; the message lists every problem."""


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """What every service reads. Environment variable = field name in upper case."""

    service_name: str
    port: int
    # DEEPIRI_ENV; the seed's NODE_ENV is honoured when DEEPIRI_ENV is absent.
    deepiri_env: Environment = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    web_concurrency: int = 1
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on all interfaces
    max_body_bytes: int = 1_000_000
    # Access tokens are issued by user-service (the OAuth 2.0 authorization server).
    jwks_url: str = "http://user-service:5001/api/users/oauth/jwks"
    jwt_issuer: str = "http://user-service:5001/api/users"
    jwt_audience: str = "deepiri"
    jwt_algorithms: str = "RS256,ES256"
    jwks_min_refresh_seconds: float = 10.0
    health_timeout_seconds: float = 1.0
    # Peers whose X-Forwarded-For/-Proto are believed (uvicorn's forwarded_allow_ips):
    # comma-separated addresses or CIDR ranges of the proxies in front of the pod (the
    # chart sets the Ingress controller's range). Never "*": anyone could pick their address.
    forwarded_allow_ips: str = "127.0.0.1"

    @property
    def production(self) -> bool:
        return self.deepiri_env == "production"

    @property
    def provider_url(self) -> str:
        """user-service's /api/users where this service reaches it: the base of JWKS_URL
        (inside the cluster), not JWT_ISSUER — the issuer is the public URL clients see,
        which a pod's NetworkPolicy does not let it reach."""
        return self.jwks_url.removesuffix("/oauth/jwks")


@dataclass(frozen=True, kw_only=True)
class MongoSettings:
    mongo_uri: Secret = "mongodb://127.0.0.1:27017/"
    mongo_db: str = "deepiri"
    # Every MongoDB call is bounded: a paused or unreachable server costs a request at most
    # about connect/selection + socket time, then a 503 (never a hang).
    mongo_connect_timeout_seconds: float = 2.0
    mongo_server_selection_timeout_seconds: float = 2.0
    mongo_socket_timeout_seconds: float = 5.0
    # An Idempotency-Key record still "in flight" this long is taken over by a retry (its
    # process died); a request may run at most half of it.
    idempotency_abandoned_after_seconds: float = 60.0


@dataclass(frozen=True, kw_only=True)
class RedisSettings:
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_db: int = 0
    redis_password: Secret = ""
    # Per caller: sustained requests per minute and how many may come at once (0 = off).
    rate_limit_per_minute: int = 600
    rate_limit_burst: int = 60
    # Redis calls are bounded too (the consumer's blocking read is 1 s, so keep this above it).
    redis_connect_timeout_seconds: float = 1.0
    redis_socket_timeout_seconds: float = 3.0
    # The rate limiter only decorates a request: past this it lets the request through.
    rate_limit_timeout_seconds: float = 0.5
    # Producers (deepiri_kit.events.replay): how often the bus guard confirms consumption and
    # checks which Redis it talks to, and how far before the last confirmed point a replay
    # after a Redis change starts (clock skew between hosts, delay between write and publish).
    bus_guard_interval_seconds: float = 10.0
    bus_replay_margin_seconds: float = 120.0


@dataclass(frozen=True, kw_only=True)
class InfluxSettings:
    influxdb_url: str = "http://127.0.0.1:8086"
    influxdb_token: Secret = "deepiri-dev-token"  # noqa: S105 - refused in production
    influxdb_org: str = "deepiri"
    influxdb_bucket: str = "activity"
    influxdb_timeout_seconds: float = 5.0
    # False when only one feature needs InfluxDB and its work waits while it is away:
    # readiness then reports it ``degraded`` (200) instead of taking the pod out of rotation.
    influxdb_required: bool = True


S = TypeVar("S", bound=ServiceSettings)


def env_name(field_name: str) -> str:
    return field_name.upper()


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None, **overrides: Any) -> S:
    """Build ``cls`` from the environment (strings converted to the field types).

    ``overrides`` win over the environment; tests use them instead of mutating os.environ.
    Raises SettingsError naming every invalid variable, and, in production, every secret
    that is empty or still at its development default.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        name = env_name(field.name)
        if name in env:
            raw[field.name] = env[name]
    if "deepiri_env" not in raw and "NODE_ENV" in env:
        raw["deepiri_env"] = env["NODE_ENV"]
    raw.update(overrides)
    try:
        settings = msgspec.convert(raw, type=cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid configuration: {_explain(exc)}") from exc
    if "*" in settings.forwarded_allow_ips:
        raise SettingsError(
            "FORWARDED_ALLOW_IPS must name the proxies in front of the service, not '*' "
            "(anyone could then choose the client address rate limits use)"
        )
    if settings.production:
        from deepiri_kit.faults import ENV as FAILPOINTS

        if env.get(FAILPOINTS):
            raise SettingsError(f"refusing to start in production with {FAILPOINTS} set")
        weak = weak_secrets(settings)
        if weak:
            raise SettingsError(
                "refusing to start in production with empty or default secrets: "
                + ", ".join(env_name(n) for n in weak)
            )
    return settings


def secret_fields(cls: type[Any], *, optional: bool = False) -> list[dataclasses.Field[Any]]:
    """The fields marked Secret (and OptionalSecret with ``optional``)."""
    markers = (SECRET, OPTIONAL_SECRET) if optional else (SECRET,)
    hints = typing.get_type_hints(cls, include_extras=True)
    return [
        f
        for f in dataclasses.fields(cls)
        if any(m in markers for m in getattr(hints[f.name], "__metadata__", ()))
    ]


def weak_secrets(settings: Any) -> list[str]:
    """Secret fields that are empty or equal to their (development) default."""
    return [
        f.name
        for f in secret_fields(type(settings))
        if not getattr(settings, f.name) or getattr(settings, f.name) == f.default
    ]


def redacted(settings: Any) -> dict[str, Any]:
    """The settings as a dict with secrets masked, for start-up logs."""
    secrets = {f.name for f in secret_fields(type(settings), optional=True)}
    return {
        f.name: (
            "***" if f.name in secrets and getattr(settings, f.name) else getattr(settings, f.name)
        )
        for f in dataclasses.fields(settings)
    }


def _explain(exc: msgspec.ValidationError) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.port`"; name the variable instead.
    message = str(exc)
    if " - at `$." in message:
        text, _, path = message.partition(" - at `$.")
        return f"{env_name(path.rstrip('`').split('.')[0].split('[')[0])}: {text}"
    return message
