"""Domain errors (deepiri_kit.errors) become the same problem document in every service:
one status per kind, the detail and extension members kept, nothing else leaked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.params import FromPath

from deepiri_kit import (
    Conflict,
    DomainError,
    Forbidden,
    InsufficientFunds,
    Invalid,
    NotFound,
    ServiceSettings,
    StalePrecondition,
    create_app,
    domain_status,
)
from deepiri_kit.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
PREFIX = "/api/errors"


class TaskBlocked(Conflict):
    """A service's own refinement keeps its kind's status."""


RAISED: dict[str, DomainError] = {
    "not-found": NotFound("no task 42"),
    "conflict": Conflict("this dependency would create a cycle", cycle=["a", "b", "a"]),
    "blocked": TaskBlocked("blocked by unfinished tasks", blockers=[{"task_id": "b"}]),
    "funds": InsufficientFunds("not enough coins", currency="coins", needed=5, available=2),
    "invalid": Invalid("unknown category 'chess'", known=["overall"]),
    "stale": StalePrecondition("the task changed since you read it", etag='"v7"'),
    "forbidden": Forbidden("only services may record matches"),
    "bare": DomainError("something the domain refused"),
}
EXPECTED = {
    "not-found": (404, "not-found", {}),
    "conflict": (409, "conflict", {"cycle": ["a", "b", "a"]}),
    "blocked": (409, "conflict", {"blockers": [{"task_id": "b"}]}),
    "funds": (409, "insufficient-funds", {"currency": "coins", "needed": 5, "available": 2}),
    "invalid": (422, "unprocessable", {"known": ["overall"]}),
    "stale": (412, "precondition-failed", {}),
    "forbidden": (403, "forbidden", {}),
    "bare": (422, "unprocessable", {}),
}


@get("/raise/{kind:str}", opt={"public": True})
async def raise_it(kind: FromPath[str]) -> None:
    raise RAISED[kind]


@pytest.fixture
def app(service_env: dict[str, Any]) -> Litestar:
    auth = {k: v for k, v in service_env.items() if k.startswith(("jwks", "jwt", "deepiri"))}
    settings = load_settings(ServiceSettings, {}, service_name="errors-service", port=5998, **auth)
    return create_app(settings, prefix=PREFIX, title="errors", route_handlers=[raise_it])


@pytest.mark.parametrize("kind", sorted(RAISED))
async def test_each_kind_has_one_status(client: httpx.AsyncClient, kind: str) -> None:
    status, slug, extra = EXPECTED[kind]
    response = await client.get(f"{PREFIX}/raise/{kind}")
    assert response.status_code == status, response.text
    # A page that re-renders its form with the error answers with the same status.
    assert domain_status(RAISED[kind]) == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"https://deepiri.dev/problems/{slug}"
    assert (body["status"], body["detail"]) == (status, RAISED[kind].detail)
    assert body["instance"] == f"{PREFIX}/raise/{kind}"
    members = {k: v for k, v in body.items() if k not in ("type", "title", "status", "detail")}
    members.pop("instance")
    members.pop("request_id", None)
    assert members == extra
    assert ("etag" in response.headers) == (kind == "stale")
    if kind == "stale":
        assert response.headers["etag"] == '"v7"'
