"""Issue 8.13 through the API: a time-zone change cannot open a daily's paid period again."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.streams import published
from support.tasks import create

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_moving_the_time_zone_west_pays_no_second_period(
    client: httpx.AsyncClient, alice: dict[str, str], redis: Any
) -> None:
    # Etc/GMT-14 and Etc/GMT+12 are 26 hours apart: whatever the time now, the western local
    # date is at least one day before the eastern one, so the move lands in an earlier period.
    task = await create(client, alice, kind="daily", timezone="Etc/GMT-14")
    url = f"/api/tasks/{task['id']}"
    paid = await client.post(f"{url}/complete", headers=alice)
    assert paid.status_code == 200, paid.text
    moved = await client.patch(url, json={"timezone": "Etc/GMT+12"}, headers=alice)
    assert moved.status_code == 200, moved.text
    assert moved.json()["current_period"] < paid.json()["current_period"]
    again = await client.post(f"{url}/complete", headers=alice)
    assert again.status_code == 409, again.text
    assert again.json()["paid_period"] == paid.json()["current_period"]
    assert moved.json()["done_for_period"] is True  # nothing left to do in that period
    # Reopening the paid period first and then moving west does not get around it.
    back = await client.patch(url, json={"timezone": "Etc/GMT-14"}, headers=alice)
    assert back.status_code == 200, back.text
    assert (await client.post(f"{url}/reopen", headers=alice)).status_code == 200
    assert (await client.patch(url, json={"timezone": "Etc/GMT+12"}, headers=alice)).is_success
    assert (await client.post(f"{url}/complete", headers=alice)).status_code == 409
    completions = await published(redis, "events.tasks", "task.completed")
    assert [e.data["completion_id"] for e in completions] == [
        f"{task['id']}:{paid.json()['current_period']}"
    ]
