"""challenge-service's player facts racing an erasure, on real FerretDB (the replay and
ordering cases through the consumer are in test_api.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from challenge_service.domain.challenges import PlayerFacts
from challenge_service.store.players import Document, PlayerFactsStore
from deepiri_kit import utcnow
from support.erasure import mongo_traces, someone

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


class ErasedWhileWriting(PlayerFactsStore):
    """The real store, each fact's write landing just after the player's whole erasure: the
    worst interleaving of a consumer whose tombstone check passed before the erasure began
    (another replica handling ``user.deleted``)."""

    async def _replace(self, doc_id: str, doc: Document, older: Document) -> None:
        await self.erase(doc["user_id"], utcnow())
        await super()._replace(doc_id, doc, older)


async def test_facts_written_while_the_player_is_erased_are_erased_again(mongo: Any) -> None:
    store = ErasedWhileWriting(mongo["player_facts"])
    await store.ensure_indexes()
    zoned, leveled, skilled = someone("zoned"), someone("leveled"), someone("skilled")

    await store.set_zone(zoned, "Asia/Tokyo", datetime.now(UTC))
    await store.raise_level(leveled, 7)
    await store.raise_skill(skilled, "python", 3)

    for player in (zoned, leveled, skilled):
        assert await store.erased.buried(player)
        assert await store.of(player) == PlayerFacts()
        assert await mongo_traces(mongo, player, besides=["erased_users"]) == {}
