"""Times a client may send but UTC cannot hold (the calendar's first and last day with an
offset) and integers beyond int64 are 400 problems on every task route that takes them —
never a 500 from the conversion or from the datastore."""

from __future__ import annotations

import httpx
import pytest

from support.tasks import create

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Client = httpx.AsyncClient

UNREPRESENTABLE = [
    "9999-12-31T23:00:00-05:00",
    "9999-12-31T00:00:00+00:00",
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00Z",
]
HUGE = str(2**64)


def assert_400(response: httpx.Response) -> None:
    assert response.status_code == 400, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("moment", UNREPRESENTABLE)
async def test_unrepresentable_times_are_400(
    client: Client, alice: dict[str, str], moment: str
) -> None:
    task = await create(client, alice)
    assert_400(
        await client.post("/api/tasks", json={"title": "x", "due_at": moment}, headers=alice)
    )
    assert_400(
        await client.patch(f"/api/tasks/{task['id']}", json={"due_at": moment}, headers=alice)
    )
    for name in ("due_from", "due_to"):
        assert_400(await client.get("/api/tasks", params={name: moment}, headers=alice))


async def test_the_last_representable_days_are_accepted(
    client: Client, alice: dict[str, str]
) -> None:
    for moment in ["9999-12-30T23:59:59+14:00", "0001-01-02T00:00:00-12:00"]:
        created = await client.post(
            "/api/tasks", json={"title": "x", "due_at": moment}, headers=alice
        )
        assert created.status_code == 201, created.text
        listed = await client.get("/api/tasks", params={"due_from": moment}, headers=alice)
        assert listed.status_code == 200, listed.text


async def test_integers_beyond_int64_are_400(client: Client, alice: dict[str, str]) -> None:
    task = await create(client, alice)
    base = f"/api/tasks/{task['id']}"
    assert_400(await client.get(f"{base}/versions", params={"after": HUGE}, headers=alice))
    assert_400(await client.get(f"{base}/versions/{HUGE}", headers=alice))
    assert_400(await client.post(f"{base}/versions/{HUGE}/restore", headers=alice))
    assert_400(await client.get(f"{base}/diff", params={"from": HUGE, "to": 1}, headers=alice))
    assert_400(
        await client.post(
            "/api/tasks", json={"title": "x", "estimated_minutes": 2**64}, headers=alice
        )
    )


@pytest.mark.parametrize("value", ["5", 2.0, True, "2026"])
async def test_integers_are_json_integers(
    client: Client, alice: dict[str, str], value: object
) -> None:
    """Strict decoding: what the schema calls an integer must be one."""
    response = await client.post(
        "/api/tasks", json={"title": "x", "estimated_minutes": value}, headers=alice
    )
    assert_400(response)
    task = await create(client, alice)
    assert_400(
        await client.post(
            f"/api/tasks/{task['id']}/complete", json={"actual_minutes": value}, headers=alice
        )
    )
