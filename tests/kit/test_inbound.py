"""Hostile input at the edge, for every route of every service built on the kit (the sample
service, task-service, gamification-service): each case is a 400 problem document, never a
500 and never silently accepted. The routes come from each service's own OpenAPI document,
so a route added later is covered without touching this file."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from deepiri_kit.settings import load_settings
from support.apps import app_client
from support.gamification import gamification_env
from support.sample_app import SampleSettings, build
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PROBLEM = "application/problem+json"
BIG = 2**64  # beyond int64: what reached the datastore before and crashed it


def _sample(env: dict[str, Any]) -> Litestar:
    return build(load_settings(SampleSettings, {}, **env))


def _tasks(env: dict[str, Any]) -> Litestar:
    from task_service.app import create_app
    from task_service.settings import TaskSettings

    return create_app(load_settings(TaskSettings, {}, **env))


def _gamification(env: dict[str, Any]) -> Litestar:
    from gamification_service.app import create_app
    from gamification_service.settings import GamificationSettings

    return create_app(load_settings(GamificationSettings, {}, **gamification_env(env)))


SERVICES: dict[str, tuple[Callable[[dict[str, Any]], Litestar], str, str]] = {
    "sample": (_sample, "/api/sample", "notes:read notes:write"),
    "task-service": (_tasks, "/api/tasks", "tasks:read tasks:write"),
    "gamification-service": (
        _gamification,
        "/api/gamification",
        "gamification:read gamification:write gamification:admin ratings:write",
    ),
}


@dataclass
class Service:
    client: httpx.AsyncClient
    spec: dict[str, Any]
    headers: dict[str, str]

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (method.upper(), path, op)
            for path, item in self.spec["paths"].items()
            for method, op in item.items()
            if method in ("get", "post", "put", "patch", "delete")
        ]


@pytest.fixture(params=list(SERVICES))
async def service(
    request: pytest.FixtureRequest, service_env: dict[str, Any], issuer: TokenIssuer, redis: Any
) -> AsyncIterator[Service]:
    factory, prefix, scopes = SERVICES[request.param]
    app = factory(service_env)
    # A client-credentials token (subject = client id) may call every route, service-only too.
    token = issuer.token("edge-test", scopes, client_id="edge-test")
    async with app_client(app) as c:
        spec = (await c.get(f"{prefix}/schema/openapi.json")).json()
        yield Service(c, spec, {"Authorization": f"Bearer {token}"})


def concrete(path: str, op: dict[str, Any]) -> str:
    """The path with every parameter filled by a value of its declared type."""
    for param in op.get("parameters", []):
        if param["in"] != "path":
            continue
        schema = param.get("schema", {})
        value = "1" if schema.get("type") == "integer" else "0" * 24
        if schema.get("pattern") == "^[0-9a-fA-F]{12}$":
            value = "0" * 12
        path = path.replace("{" + param["name"] + "}", value)
    return path


def assert_problem(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


OPTED_OUT = {"/api/sample/notes/search"}  # opt={"open_query": True}


async def test_unknown_query_parameters_are_refused_on_every_route(service: Service) -> None:
    for method, path, op in service.operations():
        if path in OPTED_OUT:
            response = await service.client.get(path, params={"a": "1"}, headers=service.headers)
            assert response.json() == {"params": ["a"]}
            continue
        url = concrete(path, op)
        for name in ["status[$ne]", "owner", "__proto__"]:
            response = await service.client.request(
                method, url, params={name: "x"}, headers=service.headers
            )
            problem = assert_problem(response)
            assert name in problem["detail"], problem
            assert problem["errors"] == [
                {"key": name, "source": "query", "message": "unknown parameter"}
            ]


NOT_JSON = {
    "invalid UTF-8 in a string": b'{"title": "\xff\xfe"}',
    "invalid UTF-8 outside strings": b"\xff",
    "lone surrogate escape halves": b'{"title": "\\ud800"}',
    "arrays nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
    "objects nested 50000 deep": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "truncated": b'{"title": ',
}


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
async def test_bodies_that_are_not_json_are_400_on_every_json_route(
    service: Service, body: bytes
) -> None:
    headers = {**service.headers, "content-type": "application/json"}
    tried = 0
    for method, path, op in service.operations():
        if "requestBody" not in op:
            continue
        tried += 1
        response = await service.client.request(
            method, concrete(path, op), content=body, headers=headers
        )
        if response.status_code == 413:  # the deep documents exceed a small body limit first
            continue
        assert_problem(response)
    assert tried


def forged(*fields: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(fields)).encode()).rstrip(b"=").decode()


FORGED_CURSORS = {
    "int beyond int64": lambda sort: forged(sort, BIG, "0" * 24),
    "int beyond int64 as time": lambda sort: forged(sort, BIG, "0" * 24, True),
    "float overflowing": lambda sort: forged(sort, 1e400, "0" * 24),
    "year 10000": lambda sort: forged(sort, "10000-01-01T00:00:00+00:00", "0" * 24, True),
    "year 9999 with an offset": lambda sort: forged(
        sort, "9999-12-31T23:00:00-05:00", "0" * 24, True
    ),
    "year 1 with an offset": lambda sort: forged(sort, "0001-01-01T00:00:00+05:00", "0" * 24, True),
    "naive time": lambda sort: forged(sort, "2026-01-01T00:00:00", "0" * 24, True),
    "not a time": lambda sort: forged(sort, "yesterday", "0" * 24, True),
    "object value": lambda sort: forged(sort, {"$gt": ""}, "0" * 24),
    "id too long": lambda sort: forged(sort, 1, "0" * 500),
    "extra fields": lambda sort: forged(sort, 1, "0" * 24, False, "more"),
    "wrong sort": lambda sort: forged("nope", 1, "0" * 24),
    "not base64": lambda sort: "%%%",
    "not JSON": lambda sort: base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "non-ASCII": lambda sort: "ü" * 8,
    "huge": lambda sort: "A" * 5000,
}
SORT_OF = {"/api/tasks": "created", "/api/sample/notes": "created"}


@pytest.mark.parametrize("make", FORGED_CURSORS.values(), ids=FORGED_CURSORS.keys())
async def test_forged_cursors_are_400_on_every_paginated_route(
    service: Service, make: Callable[[str], str]
) -> None:
    paginated = [
        (path, op)
        for method, path, op in service.operations()
        if method == "GET" and any(p["name"] == "cursor" for p in op.get("parameters", []))
    ]
    assert paginated
    for path, op in paginated:
        url = concrete(path, op)
        sort = SORT_OF.get(path, "history" if "history" in path else "seq")
        response = await service.client.get(
            url, params={"cursor": make(sort)}, headers=service.headers
        )
        assert_problem(response)


async def test_integers_beyond_int64_are_400_wherever_an_integer_is_taken(service: Service) -> None:
    for method, path, op in service.operations():
        for param in op.get("parameters", []):
            if param.get("schema", {}).get("type") != "integer" or param["in"] not in (
                "query",
                "path",
            ):
                continue
            url = concrete(path, op)
            params = {}
            if param["in"] == "path":
                url = re.sub(r"/1(?=/|$)", f"/{BIG}", url, count=1)
            else:
                params = {param["name"]: str(BIG)}
            response = await service.client.request(
                method, url, params=params, headers=service.headers
            )
            assert_problem(response)


async def test_the_document_declares_every_problem_and_closed_bodies(service: Service) -> None:
    """What schema fuzzing checks (tests/system/test_schema_fuzzing.py), stated directly:
    problem responses on every operation, closed request bodies, honest OPTIONS."""
    schemas = service.spec["components"]["schemas"]
    for method, path, op in service.operations():
        for status in ("400", "401", "403", "404", "409", "412", "413", "415", "422", "429", "503"):
            content = op["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
        if "204" in op["responses"]:
            assert "content" not in op["responses"]["204"], (method, path)
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        for ref in re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(body)):
            if schemas[ref].get("type") == "object" and "properties" in schemas[ref]:
                assert schemas[ref]["additionalProperties"] is False, (method, path, ref)
    for path, item in service.spec["paths"].items():
        methods = {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
        some_op = next(iter(item.values()))
        response = await service.client.options(concrete(path, some_op), headers=service.headers)
        assert response.status_code == 204, (path, response.text)
        assert set(response.headers["allow"].split(", ")) == methods | {"OPTIONS"}, path
