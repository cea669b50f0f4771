"""The kit is tested through a small service built on it (tests/support/sample_app.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from deepiri_kit.settings import load_settings
from support.sample_app import SampleSettings, build
from support.tokens import TokenIssuer


@pytest.fixture
def app(service_env: dict[str, Any]) -> Litestar:
    """The sample service on the harness's servers (``client`` calls it in-process)."""
    return build(load_settings(SampleSettings, {}, **service_env))


@pytest.fixture
def own_issuer() -> Iterator[TokenIssuer]:
    """An authorization server of the test's own: the test may rotate its keys and make its
    endpoint fail or hang."""
    issuer = TokenIssuer()
    yield issuer
    issuer.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client, for kit parts that take one (JWKS cache, upstream calls)."""
    async with httpx.AsyncClient() as client:
        yield client
