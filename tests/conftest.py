"""Fixtures: real Redis, FerretDB (MongoDB wire) and InfluxDB started on free loopback ports,
a local token issuer with a JWKS endpoint, and an in-memory span exporter."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infra import FerretDBServer, InfluxServer, MissingBinary, RedisServer, Server
from support.tokens import AUDIENCE, ISSUER, TokenIssuer

# Keep test runs quiet and independent of a developer's OTEL settings.
os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _start(server: Server) -> Server:
    try:
        server.start()
    except MissingBinary as exc:
        pytest.fail(str(exc), pytrace=False)
    return server


@pytest.fixture(scope="session")
def servers_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def redis_server(servers_root: Path) -> Iterator[RedisServer]:
    server = RedisServer(servers_root)
    _start(server)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server(servers_root: Path) -> Iterator[FerretDBServer]:
    server = FerretDBServer(servers_root)
    _start(server)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influx_server(servers_root: Path) -> Iterator[InfluxServer]:
    server = InfluxServer(servers_root)
    _start(server)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def issuer() -> Iterator[TokenIssuer]:
    token_issuer = TokenIssuer()
    yield token_issuer
    token_issuer.close()


@pytest.fixture
def db_name() -> str:
    """A fresh MongoDB database per test: tests never see each other's documents."""
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    client = Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def mongo(mongo_server: FerretDBServer, db_name: str) -> AsyncIterator[Any]:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_server.uri, tz_aware=True)
    yield client[db_name]
    await client.drop_database(db_name)
    await client.close()


@pytest.fixture
def service_env(
    redis_server: RedisServer, mongo_server: FerretDBServer, issuer: TokenIssuer, db_name: str
) -> dict[str, Any]:
    """Settings overrides that point a service at the harness servers and the test issuer."""
    return {
        "mongo_uri": mongo_server.uri,
        "mongo_db": db_name,
        "redis_host": "127.0.0.1",
        "redis_port": redis_server.port,
        "jwks_url": issuer.jwks_url,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "jwks_min_refresh_seconds": 0.0,
        "deepiri_env": "test",
        # Tests fire requests faster than any person; test_ratelimit turns limits back on.
        "rate_limit_per_minute": 0,
    }


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    from deepiri_kit.tracing import configure_tracing

    provider = configure_tracing("deepiri-tests")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    span_exporter.clear()
    return span_exporter
