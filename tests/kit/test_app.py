"""The app factory: problem documents, auth, request ids, OpenAPI, metrics, pagination."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from deepiri_kit.settings import load_settings
from support.sample_app import PREFIX, SampleSettings, build
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PROBLEM = "application/problem+json"


@pytest.fixture
def app(service_env: dict[str, Any]) -> Litestar:
    return build(load_settings(SampleSettings, {}, max_body_bytes=2048, **service_env))


@pytest.fixture
def writer(issuer: TokenIssuer) -> dict[str, str]:
    return issuer.headers("alice", "notes:read notes:write")


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://deepiri.dev/problems/")
    assert body["title"]
    assert body["detail"]
    return body


async def test_create_and_read_back(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    created = await client.post(
        f"{PREFIX}/notes", json={"title": "hello", "tags": ["a"]}, headers=writer
    )
    assert created.status_code == 201, created.text
    note = created.json()
    read = await client.get(f"{PREFIX}/notes/{note['id']}", headers=writer)
    assert read.status_code == 200
    assert read.json() == note


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x", "$set": {"owner": "mallory"}},  # operator injection
        {"title": {"$gt": ""}},  # operator in a value
        {"title": "x", "owner": "mallory"},  # mass assignment of a server field
        {"title": ""},  # constraint
        {"title": "x", "tags": ["1", "2", "3", "4", "5", "6"]},  # too many items
        {},  # missing field
    ],
)
async def test_bad_bodies_get_a_problem_and_write_nothing(
    client: httpx.AsyncClient, writer: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post(f"{PREFIX}/notes", json=body, headers=writer)
    problem = assert_problem(response, 400)
    assert problem["errors"], problem
    listed = await client.get(f"{PREFIX}/notes", headers=writer)
    assert listed.json()["items"] == []


async def test_malformed_json_is_a_400_problem(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    response = await client.post(
        f"{PREFIX}/notes",
        content=b'{"title": ',
        headers={**writer, "content-type": "application/json"},
    )
    assert_problem(response, 400)


async def test_oversized_body_is_413(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    response = await client.post(f"{PREFIX}/notes", json={"title": "x" * 5000}, headers=writer)
    assert_problem(response, 413)


async def test_unknown_route_and_method(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    assert_problem(await client.get(f"{PREFIX}/nope", headers=writer), 404)
    assert_problem(await client.get("/not/under/prefix"), 404)
    assert_problem(await client.delete(f"{PREFIX}/notes", headers=writer), 405)


async def test_internal_errors_do_not_leak(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    problem = assert_problem(await client.get(f"{PREFIX}/notes/boom", headers=writer), 500)
    assert "secret" not in problem["detail"]


async def test_auth_failures(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    url = f"{PREFIX}/notes"
    missing = await client.get(url)
    assert_problem(missing, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    garbage = await client.get(url, headers={"Authorization": "Bearer not-a-jwt"})
    assert "invalid_token" in garbage.headers["www-authenticate"]
    assert_problem(garbage, 401)
    expired = await client.get(url, headers=issuer.headers("alice", "notes:read", lifetime=-120))
    assert assert_problem(expired, 401)["detail"] == "token expired"
    wrong_aud = await client.get(
        url, headers=issuer.headers("alice", "notes:read", aud="someone-else")
    )
    assert_problem(wrong_aud, 401)
    no_scope = await client.get(url, headers=issuer.headers("alice", "other:scope"))
    body = assert_problem(no_scope, 403)
    assert body["missing_scopes"] == ["notes:read"]
    assert 'error="insufficient_scope"' in no_scope.headers["www-authenticate"]


async def test_users_only_see_their_own(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    alice = issuer.headers("alice", "notes:read notes:write")
    bob = issuer.headers("bob", "notes:read notes:write")
    note = (await client.post(f"{PREFIX}/notes", json={"title": "mine"}, headers=alice)).json()
    assert_problem(await client.get(f"{PREFIX}/notes/{note['id']}", headers=bob), 404)


async def test_request_id_on_every_response(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    ok = await client.get(f"{PREFIX}/notes", headers={**writer, "x-request-id": "abc-123"})
    assert ok.headers["x-request-id"] == "abc-123"
    not_found = await client.get("/nowhere")
    assert len(not_found.headers["x-request-id"]) == 32
    assert not_found.json()["request_id"] == not_found.headers["x-request-id"]
    hostile = await client.get("/nowhere", headers={"x-request-id": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"


async def test_openapi_is_served_under_the_prefix(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{PREFIX}/schema/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert f"{PREFIX}/notes" in spec["paths"]
    assert "/health" not in spec["paths"]
    assert spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"


async def test_probes_and_metrics(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    assert (await client.get("/livez")).json() == {"status": "alive"}
    health = await client.get("/health")
    assert health.status_code == 200
    assert set(health.json()["checks"]) == {"mongodb", "redis"}
    note = (await client.post(f"{PREFIX}/notes", json={"title": "m"}, headers=writer)).json()
    await client.get(f"{PREFIX}/notes/{note['id']}", headers=writer)
    await client.get("/does/not/exist")
    text = (await client.get("/metrics")).text
    # Route templates, never raw ids, so the label set stays bounded.
    assert 'route="/api/sample/notes/{note_id}"' in text
    assert note["id"] not in text
    assert 'route="<unmatched>"' in text
    assert 'route="/health"' not in text


async def test_cursor_pagination_walks_every_item_once(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    created = set()
    for i in range(7):
        created.add(
            (await client.post(f"{PREFIX}/notes", json={"title": f"n{i}"}, headers=writer)).json()[
                "id"
            ]
        )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{PREFIX}/notes", params=params, headers=writer)).json()
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7
    assert set(seen) == created
    assert_problem(
        await client.get(f"{PREFIX}/notes", params={"cursor": "%%%"}, headers=writer), 400
    )
    assert_problem(await client.get(f"{PREFIX}/notes", params={"limit": 1000}, headers=writer), 400)
