"""notification-service's profiles racing an erasure, on real FerretDB and Redis (the replay
and ordering cases through the consumer are in test_api.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deepiri_kit import utcnow
from deepiri_kit.contracts.users import UserUpdated
from notification_service.service import Deliveries, Reactions
from notification_service.store.channels import RoomEmitter, SmtpRelay
from notification_service.store.notifications import Document, NotificationStore
from support.erasure import mongo_traces, someone

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


class ErasedWhileWriting(NotificationStore):
    """The real store, its profile write landing just after the account's whole erasure:
    the worst interleaving of a consumer whose tombstone check passed before the erasure
    began (another replica handling ``user.deleted``)."""

    async def set_profile(self, user_id: str, changes: Document, at: datetime) -> bool:
        await self.erase(user_id, utcnow())
        return await super().set_profile(user_id, changes, at)


async def test_a_profile_written_while_the_account_is_erased_is_erased_again(
    mongo: Any, redis: Any, socket_channel: str
) -> None:
    store = ErasedWhileWriting(mongo, redis)
    await store.ensure_indexes()
    port = redis.connection_pool.connection_kwargs["port"]
    emitter = RoomEmitter(f"redis://127.0.0.1:{port}/0", socket_channel)
    relay = SmtpRelay(host="127.0.0.1", port=1, sender="x@deepiri.dev", security="none")
    reactions = Reactions(store, Deliveries(store, emitter, relay))
    val = someone("val")
    address = f"{val}@example.org"
    update = UserUpdated(user_id=val, display_name="Val", time_zone="Asia/Tokyo", email=address)

    await reactions.on_profile(val, update, datetime.now(UTC) - timedelta(minutes=1))

    assert await store.erased.buried(val)
    assert await mongo["profiles"].count_documents({}) == 0
    assert await mongo_traces(mongo, address) == {}
    assert await mongo_traces(mongo, val, besides=["erased_users"]) == {}
