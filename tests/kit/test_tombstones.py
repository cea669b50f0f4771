"""The kit's tombstones on real FerretDB: a write path wrapped in ``undone_if_buried`` stands
when nobody it wrote for was erased, and is erased again and refused — also when it failed
half-way — when someone was buried while it wrote."""

from __future__ import annotations

from typing import Any

import pytest

from deepiri_kit import utcnow
from deepiri_kit.data.mongo import Tombstones

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


class Refused(Exception):
    pass


async def test_a_write_racing_a_burial_is_erased_again_and_refused(mongo: Any) -> None:
    tombstones = Tombstones(mongo)
    things = mongo["things"]
    undone: list[str] = []

    async def erase_again(user_id: str) -> None:
        undone.append(user_id)
        await things.delete_many({"owner": user_id})

    async with tombstones.undone_if_buried(["ann", "bob"], erase_again, Refused):
        await things.insert_one({"owner": "ann"})
    assert undone == []

    async def racing() -> None:
        async with tombstones.undone_if_buried(["ann", "bob"], erase_again, Refused):
            await tombstones.bury("bob", utcnow())  # the erasure began after the write's check
            await things.insert_one({"owner": "bob"})

    async def failing() -> None:
        async with tombstones.undone_if_buried(["bob"], erase_again, Refused):
            await things.insert_one({"owner": "bob"})
            raise RuntimeError("failed half-way")

    with pytest.raises(Refused):
        await racing()
    assert undone == ["bob"]
    with pytest.raises(Refused) as refused:
        await failing()
    assert isinstance(refused.value.__context__, RuntimeError)
    assert undone == ["bob", "bob"]
    assert [t["owner"] for t in await things.find().to_list()] == ["ann"]


async def test_without_a_refusal_a_write_racing_a_burial_is_just_undone(mongo: Any) -> None:
    """An event for an account erased while it was handled: dropped, not retried."""
    tombstones = Tombstones(mongo)
    things = mongo["things"]

    async def erase_again(user_id: str) -> None:
        await things.delete_many({"owner": user_id})

    async with tombstones.undone_if_buried(["cy"], erase_again):
        await tombstones.bury("cy", utcnow())
        await things.insert_one({"owner": "cy"})
    assert await things.count_documents({}) == 0

    async def failing() -> None:
        async with tombstones.undone_if_buried(["cy"], erase_again):
            await things.insert_one({"owner": "cy"})
            raise RuntimeError("failed half-way")

    with pytest.raises(RuntimeError):  # a failure is still the caller's to see
        await failing()
    assert await things.count_documents({}) == 0
