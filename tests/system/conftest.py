"""Fixtures for services run as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import FerretDBServer, RedisServer, free_port
from support.processes import ServiceProcess, harness_env
from support.tokens import TokenIssuer


@pytest.fixture
def task_service(
    tmp_path: Path,
    redis_server: RedisServer,
    mongo_server: FerretDBServer,
    issuer: TokenIssuer,
    db_name: str,
) -> Iterator[ServiceProcess]:
    """task-service with two uvicorn workers, as a pod runs it."""
    env = {**harness_env(redis_server, mongo_server, issuer, db_name), "WEB_CONCURRENCY": "2"}
    service = ServiceProcess("task-service", free_port(), env, tmp_path)
    service.start()
    yield service
    service.stop()
