"""The shared fixtures: real Redis, FerretDB (MongoDB wire) and InfluxDB on free loopback
ports, a local token issuer with a JWKS endpoint, an in-memory span exporter, the app
client (``client`` over a test package's ``app``), services as real processes
(``service_process``), and the real user-service with people holding its tokens
(``accounts``) that the processes of ``services`` trust. Helpers live in tests/support/,
never here."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infra import FerretDBServer, InfluxServer, RedisServer
from support import ordering
from support.accounts import Accounts
from support.apps import app_client
from support.processes import ServiceProcesses
from support.servers import OwnServers
from support.tokens import AUDIENCE, ISSUER, TokenIssuer

# Keep test runs quiet and independent of a developer's OTEL settings.
os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-durations",
        action="store_true",
        help="write how long each long test took to tests/durations.json (xdist's order)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spread over pytest-xdist workers (``make test``), every worker starts on its share of
    the long tests, longest first (support.ordering): the short ones fill the gaps at the
    end, instead of a long one starting last and running alone. Every worker sorts alike
    (the same collection, the same durations); a serial run keeps the files' order."""
    if hasattr(config, "workerinput"):
        durations = ordering.recorded()

        def seconds(item: pytest.Item) -> float:
            slow = item.get_closest_marker("slow") is not None
            return durations.get(item.nodeid, ordering.SLOW_DEFAULT if slow else 0.0)

        items[:] = ordering.spread(items, int(config.workerinput["workercount"]), seconds)


_durations: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # The test's own time: a shared fixture's setup lands on whichever test needs it first.
    if report.when == "call":
        _durations[report.nodeid] = report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    # On the controller only, which sees every worker's reports.
    if session.config.getoption("store_durations") and not hasattr(session.config, "workerinput"):
        ordering.store(_durations)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def session_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnServers]:
    """The servers every test shares; each starts when a test first needs it."""
    servers = OwnServers(tmp_path_factory.mktemp("servers"))
    yield servers
    servers.close()


@pytest.fixture(scope="session")
def redis_server(session_servers: OwnServers) -> RedisServer:
    return session_servers.redis


@pytest.fixture(scope="session")
def mongo_server(session_servers: OwnServers) -> FerretDBServer:
    return session_servers.mongo


@pytest.fixture(scope="session")
def influx_server(session_servers: OwnServers) -> InfluxServer:
    return session_servers.influx


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[OwnServers]:
    """Servers of this test's own, for tests that stop, pause or wipe them."""
    servers = OwnServers(tmp_path / "own")
    yield servers
    servers.close()


@pytest.fixture(scope="session")
def issuer() -> Iterator[TokenIssuer]:
    token_issuer = TokenIssuer()
    yield token_issuer
    token_issuer.close()


@pytest.fixture
def own_issuer() -> Iterator[TokenIssuer]:
    """A token issuer of the test's own: the test may rotate its keys and make its JWKS
    endpoint fail or hang."""
    token_issuer = TokenIssuer()
    yield token_issuer
    token_issuer.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client, for parts that take one (the JWKS cache, upstream calls)."""
    async with httpx.AsyncClient() as client:
        yield client


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
def redis_service_env(redis_server: RedisServer, issuer: TokenIssuer) -> dict[str, Any]:
    """Settings overrides that point a service without MongoDB at the harness's Redis and the
    test issuer."""
    return {
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


@pytest.fixture
def service_env(
    redis_service_env: dict[str, Any], mongo_server: FerretDBServer, db_name: str
) -> dict[str, Any]:
    """Settings overrides that point a service at the harness servers and the test issuer."""
    return {"mongo_uri": mongo_server.uri, "mongo_db": db_name, **redis_service_env}


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


@pytest.fixture
async def client(app: Any, redis: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The test package's ``app`` (a fixture each package defines) in-process, its lifespan
    running, started after ``redis`` has emptied the harness's Redis."""
    async with app_client(app) as test_client:
        yield test_client


@pytest.fixture
def service_process(
    tmp_path: Path, session_servers: OwnServers, issuer: TokenIssuer, db_name: str
) -> Iterator[ServiceProcesses]:
    """``service_process(name, workers=…, **env)`` starts a service as a real process (what a
    pod runs) on the harness's servers; every one started is stopped after the test."""
    processes = ServiceProcesses(tmp_path, session_servers, issuer, db_name)
    yield processes
    processes.stop_all()


@pytest.fixture(scope="session")
def accounts(
    tmp_path_factory: pytest.TempPathFactory, session_servers: OwnServers, issuer: TokenIssuer
) -> Iterator[Accounts]:
    """The real user-service as a process, one for the whole session (started when a test
    first asks it for a person): ``accounts.person()`` registers someone, signs them in
    and returns them with an access token from the code flow with PKCE."""
    processes = ServiceProcesses(
        tmp_path_factory.mktemp("accounts"),
        session_servers,
        issuer,
        f"accounts_{uuid.uuid4().hex[:12]}",
    )
    yield Accounts(processes)
    processes.stop_all()


@pytest.fixture
def services(
    tmp_path: Path,
    session_servers: OwnServers,
    issuer: TokenIssuer,
    accounts: Accounts,
    db_name: str,
) -> Iterator[ServiceProcesses]:
    """``services(name, …)``: like ``service_process``, but every service started verifies
    the real user-service's tokens (``accounts``), as on a cluster."""
    processes = ServiceProcesses(tmp_path, session_servers, issuer, db_name, accounts.trust())
    yield processes
    processes.stop_all()
