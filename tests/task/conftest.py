"""task-service's app on the harness's servers (``client`` calls it in-process), its store,
and callers with tokens."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from deepiri_kit.settings import load_settings
from support.tasks import RW
from support.tokens import TokenIssuer
from task_service.app import create_app
from task_service.settings import TaskSettings
from task_service.store.tasks import TaskStore


@pytest.fixture
def app(service_env: dict[str, Any]) -> Litestar:
    return create_app(load_settings(TaskSettings, {}, **service_env))


@pytest.fixture
def store(app: Litestar, client: Any) -> TaskStore:
    """The running app's store (``client`` has started its lifespan)."""
    task_store: TaskStore = app.state.store
    return task_store


@pytest.fixture
def alice(issuer: TokenIssuer) -> dict[str, str]:
    return issuer.headers("alice", RW)


@pytest.fixture
def bob(issuer: TokenIssuer) -> dict[str, str]:
    return issuer.headers("bob", RW)
