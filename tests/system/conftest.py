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


@pytest.fixture
def gamification_workers() -> int:
    return 2


@pytest.fixture
def services(
    gamification_workers: int,
    tmp_path: Path,
    redis_server: RedisServer,
    mongo_server: FerretDBServer,
    issuer: TokenIssuer,
    db_name: str,
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """task-service and gamification-service (``gamification_workers`` uvicorn workers),
    each with its own database."""
    tasks = ServiceProcess(
        "task-service",
        free_port(),
        harness_env(redis_server, mongo_server, issuer, f"{db_name}_tasks"),
        tmp_path,
    )
    gamification = ServiceProcess(
        "gamification-service",
        free_port(),
        {
            **harness_env(redis_server, mongo_server, issuer, f"{db_name}_gamification"),
            "WEB_CONCURRENCY": str(gamification_workers),
            "CONSUMER_BLOCK_MS": "100",
        },
        tmp_path,
    )
    tasks.start()
    try:
        gamification.start()
        try:
            yield tasks, gamification
        finally:
            gamification.stop()
    finally:
        tasks.stop()
