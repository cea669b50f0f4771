"""The service through its HTTP API, on real FerretDB and Redis: the example resource, its
event and its consumer, bad input, scopes and the kit's endpoints."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.streams import published
from support.tokens import TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
ITEMS = "/api/challenges/items"
RW = "challenge:read challenge:write"


async def test_create_read_list_publish_and_consume(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    alice = issuer.headers("alice", RW)
    created = await client.post(ITEMS, json={"name": "  A   thing ", "quantity": 3}, headers=alice)
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["name"], item["quantity"]) == ("A thing", 3)
    assert (await client.get(f"{ITEMS}/{item['id']}", headers=alice)).json() == item
    assert (await client.get(ITEMS, headers=alice)).json() == [item]

    [event] = await published(redis, "events.challenge")
    assert (event.type, event.user_id, event.data["item_id"]) == (
        "item.created",
        "alice",
        item["id"],
    )

    async def counted() -> bool:
        response = await client.get(f"{ITEMS}/count", headers=alice)
        return bool(response.json()["count"] == 1)

    await eventually(counted)


async def test_another_users_item_is_not_found(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    alice, bob = issuer.headers("alice", RW), issuer.headers("bob", RW)
    item = (await client.post(ITEMS, json={"name": "mine"}, headers=alice)).json()
    response = await client.get(f"{ITEMS}/{item['id']}", headers=bob)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(ITEMS, headers=bob)).json() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "   "}, 422),  # well-formed, breaks a rule
        ({"name": "x", "quantity": 0}, 400),
        ({"name": "x", "owner": "bob"}, 400),  # unknown fields are refused
        ({"name": "x", "$set": {"owner": "bob"}}, 400),
        ({}, 400),
    ],
)
async def test_bad_input_is_a_problem_and_writes_nothing(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any, redis: Any, body: Any, status: int
) -> None:
    response = await client.post(ITEMS, json=body, headers=issuer.headers("alice", RW))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await mongo["items"].count_documents({}) == 0
    assert await redis.xlen("events.challenge") == 0


async def test_scopes_are_required(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    assert (await client.get(ITEMS)).status_code == 401
    read_only = issuer.headers("alice", "challenge:read")
    assert (await client.post(ITEMS, json={"name": "x"}, headers=read_only)).status_code == 403


async def test_health_metrics_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/livez")).status_code == 200
    assert "http_server_requests_total" in (await client.get("/metrics")).text
    schema = (await client.get("/api/challenges/schema/openapi.json")).json()
    assert "/api/challenges/items" in schema["paths"]
