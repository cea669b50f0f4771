"""Listing: filters, sorts, cursor pagination, literal text search, bad query strings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.tasks import create

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Client = httpx.AsyncClient


async def all_pages(client: Client, headers: dict[str, str], query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/api/tasks?{query}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_filters(client: Client, alice: dict[str, str]) -> None:
    early = await create(client, alice, title="Early", due_at="2026-03-01T10:00:00Z", tags=["work"])
    late = await create(client, alice, title="Late", due_at="2026-04-01T10:00:00Z", tags=["home"])
    daily = await create(client, alice, title="Daily", kind="daily", tags=["work"])
    done = await create(client, alice, title="Done")
    await client.post(f"/api/tasks/{done['id']}/complete", headers=alice)

    async def ids(query: str) -> list[str]:
        return [t["id"] for t in await all_pages(client, alice, query)]

    assert await ids("kind=daily") == [daily["id"]]
    assert await ids("status=completed") == [done["id"]]
    assert set(await ids("status=open")) == {early["id"], late["id"], daily["id"]}
    assert set(await ids("tag=work")) == {early["id"], daily["id"]}
    assert await ids("due_from=2026-03-15T00:00:00Z") == [late["id"]]
    assert await ids("due_to=2026-03-15T00:00:00%2B00:00") == [early["id"]]
    assert await ids("kind=todo&tag=home&status=open") == [late["id"]]


async def test_sorts_paginate_completely(client: Client, alice: dict[str, str]) -> None:
    priorities = ["low", "normal", "high", "urgent"]
    created = []
    for i in range(11):
        due = {"due_at": f"2026-03-{28 - i:02d}T00:00:00Z"} if i % 3 else {}
        created.append(
            await create(client, alice, title=f"t{i}", priority=priorities[i % 4], **due)
        )
    newest_first = await all_pages(client, alice, "limit=3")
    assert [t["id"] for t in newest_first] == [t["id"] for t in reversed(created)]
    by_due = await all_pages(client, alice, "sort=due&limit=4")
    dues = [t["due_at"] for t in by_due]
    dated = [d for d in dues if d is not None]
    assert dated == sorted(dated)
    assert dues[len(dated) :] == [None] * (11 - len(dated))  # undated last
    by_priority = await all_pages(client, alice, "sort=priority&limit=2")
    ranks = [priorities.index(t["priority"]) for t in by_priority]
    assert ranks == sorted(ranks, reverse=True)
    assert len({t["id"] for t in by_priority}) == 11
    await client.patch(f"/api/tasks/{created[0]['id']}", json={"title": "touched"}, headers=alice)
    by_update = await all_pages(client, alice, "sort=updated&limit=5")
    assert by_update[0]["id"] == created[0]["id"]


async def test_text_search_is_literal_and_case_insensitive(
    client: Client, alice: dict[str, str]
) -> None:
    plain = await create(client, alice, title="Buy milk")
    dotted = await create(client, alice, title="Fix a.*b parser", notes="(a+)+$ evil")
    found = await all_pages(client, alice, "q=MILK")
    assert [t["id"] for t in found] == [plain["id"]]
    found = await all_pages(client, alice, "q=a.*b")
    assert [t["id"] for t in found] == [dotted["id"]]
    found = await all_pages(client, alice, "q=%28a%2B%29%2B%24")  # "(a+)+$" in the notes
    assert [t["id"] for t in found] == [dotted["id"]]
    # As a regex ".*" would match everything; literally only one title contains it.
    assert [t["id"] for t in await all_pages(client, alice, "q=.*")] == [dotted["id"]]
    assert await all_pages(client, alice, "q=%5B") == []  # an unbalanced "[" is just a character


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "sort=title",
        "status=archived",
        "kind=reward",
        "due_from=2026-03-01T00:00:00",  # no time zone
        "due_to=yesterday",
        "q=" + "x" * 101,
        "cursor=not-a-cursor",
        "tag=%24where",
    ],
)
async def test_bad_query_strings_are_400(client: Client, alice: dict[str, str], query: str) -> None:
    response = await client.get(f"/api/tasks?{query}", headers=alice)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_cursor_belongs_to_its_sort(client: Client, alice: dict[str, str]) -> None:
    for i in range(3):
        await create(client, alice, title=f"t{i}")
    page = (await client.get("/api/tasks?limit=1", headers=alice)).json()
    response = await client.get(f"/api/tasks?sort=due&cursor={page['next_cursor']}", headers=alice)
    assert response.status_code == 400
